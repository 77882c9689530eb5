"""`--device` for the commands that run torch (bench, verify): a clear error, before any work,
for a device name torch does not know or a device this machine does not have."""

from __future__ import annotations


def device_problem(
    name, allowed: tuple[str, ...] = ("cpu", "cuda", "mps", "meta"), option: str = "--device {}"
) -> str | None:
    """None when torch can run on device `name` (a name or a torch.device) here; else what is wrong, in
    a sentence for the user, the device written as `option` spells it (the CLI's `--device {}`, the
    API's `device={!r}`)."""
    import torch

    given = option.format(name)
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        return f"{given}: not a device torch knows (expected one of {', '.join(allowed)}, or cuda:N)"
    if device.type not in allowed:
        return f"{given}: this command runs on {', '.join(allowed)}, found {device.type}"
    cpu = option.format("cpu")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
            return f"{given}: no CUDA device here (torch {torch.__version__}, {build}); use {cpu}"
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            return (
                f"{given}: this machine has {count} CUDA device{'s' if count != 1 else ''} (cuda:0 to cuda:{count - 1})"
            )
    if device.type == "mps" and not torch.backends.mps.is_available():
        return f"{given}: no Apple GPU (MPS) here; use {cpu}"
    return None
