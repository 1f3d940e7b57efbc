"""Errors of :func:`~jndtf.train.acol.train_acol`: a non-finite loss, Ctrl-C, a checkpoint that
does not fit the run."""

from __future__ import annotations


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or Inf; the run stopped and the last good checkpoint is intact.

    Attributes:
        epoch, step: 1-based position of the offending batch.
        files: source image files of the batch's crops, in batch order.
        values: ``{"l1", "l2", "total"}`` of that step.
        checkpoint: the last good checkpoint (None if none was written yet).
    """

    def __init__(self, epoch, step, files, values, checkpoint):
        self.epoch, self.step, self.files = epoch, step, list(files)
        self.values, self.checkpoint = dict(values), checkpoint
        unique = list(dict.fromkeys(self.files))
        kept = (
            f"the last good checkpoint {checkpoint} is kept"
            if checkpoint is not None
            else "no checkpoint had been written yet"
        )
        shown = ", ".join(f"{k}={v:.6g}" for k, v in self.values.items())
        super().__init__(
            f"non-finite loss at epoch {epoch}, step {step} ({shown}); the batch's crops came "
            f"from {', '.join(unique)}; {kept}. Check those images, or lower learning_rate / "
            f"turn mixed_precision off, then resume."
        )


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) stopped the run after a step; its state was checkpointed.

    Attributes:
        checkpoint: the checkpoint written (None on a non-chief worker).
        epoch, step: 0-based position the checkpoint resumes at.
    """

    def __init__(self, checkpoint, epoch, step):
        self.checkpoint, self.epoch, self.step = checkpoint, epoch, step
        super().__init__(
            f"interrupted; state saved to {checkpoint} (epoch {epoch + 1}, step {step + 1}); "
            "run again with resume=True to continue"
        )


class CheckpointMismatchError(ValueError):
    """The checkpoint in output_dir was made with other settings than this run's."""


__all__ = ["CheckpointMismatchError", "NonFiniteLossError", "TrainingInterrupted"]
