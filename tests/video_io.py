"""Reading a video back with OpenCV alone, as the independent reference of the edge tests."""

from __future__ import annotations

import cv2
import numpy as np


def decoded_frames(path) -> list[np.ndarray]:
    """Every frame of the video at `path`, decoded by OpenCV and converted to RGB."""
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


def frame_count(path) -> int:
    """How many frames OpenCV decodes from the video at `path` (a cut file: the decodable ones)."""
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n
