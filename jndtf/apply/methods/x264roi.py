"""Per-region x264 QP offsets from a JND map, through FFmpeg's ``addroi`` filter (PyAV).

FFmpeg attaches ``AV_FRAME_DATA_REGIONS_OF_INTEREST`` side data to a frame with the ``addroi``
filter; its libx264 wrapper turns each region's ``qoffset`` (-1..1) into x264's per-macroblock
``quant_offsets`` (about 25 QP per unit) when x264's adaptive quantization is on (``aq-mode`` >= 1;
with ``aq-strength=0`` AQ itself changes nothing, so the offsets are the only adaptation).

Mapping: the frame is cut into ``grid x grid`` cells (a multiple of the 16x16 macroblock); a
cell's offset is ``s · 6 · log2(J_cell / J_median)`` QP (twice the JND -> twice the quantizer
step), clipped to ``±max_qp``; ``s = 0`` gives no regions.

Example:
    >>> data, decoded = encode_h264_roi(frames, jnds, crf=28, strength=0.5)
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

#: x264 settings: "plain" = no AQ, no psy (AQ mode 1 at strength 0 only opens the ROI path).
X264_ROI_PLAIN = "aq-mode=1:aq-strength=0:psy=0"
#: qoffset unit of FFmpeg's libx264 wrapper, in QP.
QP_PER_UNIT = 25.0


def roi_offsets(
    jnd: np.ndarray, strength: float, *, grid: int = 64, max_qp: float = 6.0
) -> np.ndarray:
    """``ceil(H/grid) x ceil(W/grid)`` QP offsets of the cells (see module)."""
    if grid < 16 or grid % 16:
        raise ValueError(f"grid must be a multiple of 16 (x264's macroblock), got {grid}")
    j = np.asarray(jnd, dtype=np.float64)
    j = j.mean(axis=2) if j.ndim == 3 else j
    h, w = j.shape
    hp, wp = -(-h // grid) * grid, -(-w // grid) * grid
    p = np.pad(j, ((0, hp - h), (0, wp - w)), mode="edge")
    cells = p.reshape(hp // grid, grid, wp // grid, grid).mean(axis=(1, 3))
    med = max(float(np.median(j)), 1e-6)
    qp = strength * 6.0 * np.log2(np.maximum(cells, 1e-6) / med)
    return np.clip(qp, -max_qp, max_qp)


def encode_h264_roi(
    frames: Sequence[np.ndarray],
    jnds: Sequence[np.ndarray],
    crf: float,
    *,
    strength: float = 1.0,
    grid: int = 64,
    max_qp: float = 6.0,
    preset: str = "medium",
    x264_params: str = X264_ROI_PLAIN,
    fps: float = 30.0,
) -> tuple[bytes, list[np.ndarray]]:
    """H.264 (libx264, MP4) of uint8 RGB frames with per-cell QP offsets from their JND maps.

    Returns:
        The MP4 bytes and the decoded uint8 RGB frames.
    """
    try:
        import av
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError('x264 ROI needs PyAV: pip install "jndtf[edge]"') from err
    if len(frames) != len(jnds) or not frames:
        raise ValueError(f"need one JND map per frame, got {len(frames)} frames, {len(jnds)} maps")
    h, w = frames[0].shape[:2]
    if h % 2 or w % 2:
        raise ValueError(f"H.264 4:2:0 needs an even frame size, got {w}x{h}")
    buf = io.BytesIO()
    out = av.open(buf, "w", format="mp4")
    rate = Fraction(float(fps)).limit_denominator(1001)
    st = out.add_stream("libx264", rate=rate)
    st.width, st.height, st.pix_fmt = w, h, "yuv420p"
    st.codec_context.thread_count = 1
    st.options = {"crf": f"{crf:g}", "preset": preset, "x264-params": x264_params}
    for i, (frame, jnd) in enumerate(zip(frames, jnds, strict=True)):
        if frame.shape[:2] != (h, w):
            raise ValueError(f"frame {i} is {frame.shape[1]}x{frame.shape[0]}, the first {w}x{h}")
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        vf = vf.reformat(format="yuv420p")
        vf.pts = i
        offsets = roi_offsets(jnd, strength, grid=grid, max_qp=max_qp) if strength else None
        if offsets is not None and np.any(offsets != 0):
            graph = av.filter.Graph()
            prev = graph.add_buffer(width=w, height=h, format="yuv420p", time_base=1 / rate)
            for (r, c), qp in np.ndenumerate(offsets):
                if qp == 0:
                    continue
                f = graph.add(
                    "addroi",
                    f"x={c * grid}:y={r * grid}:w={min(grid, w - c * grid)}:"
                    f"h={min(grid, h - r * grid)}:qoffset={qp / QP_PER_UNIT:.4f}",
                )
                prev.link_to(f)
                prev = f
            sink = graph.add("buffersink")
            prev.link_to(sink)
            graph.configure()
            graph.push(vf)
            vf = graph.pull()
        for packet in st.encode(vf):
            out.mux(packet)
    for packet in st.encode():
        out.mux(packet)
    out.close()
    data = buf.getvalue()
    with av.open(io.BytesIO(data)) as inp:
        decoded = [f.to_ndarray(format="rgb24") for f in inp.decode(video=0)]
    return data, decoded
