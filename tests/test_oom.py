"""helpers.core.oom: an out-of-memory error becomes one actionable message; anything else passes through."""

from __future__ import annotations

import gc
import re
import weakref

import pytest

from helpers.core.errors import USER_ERRORS, SettingsError
from helpers.core.oom import GENERATE_ADVICE, TRAIN_ADVICE, OutOfMemory, advice, is_oom, oom_guard

CUDA_OOM_TEXT = ("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 23.65 GiB total capacity; "
                 "21.10 GiB already allocated)")


def _cuda_oom():
    import torch

    return torch.cuda.OutOfMemoryError(CUDA_OOM_TEXT)


def _raise(exc):
    raise exc


def test_cuda_oom_in_training_lists_the_settings_in_order():
    with pytest.raises(OutOfMemory) as err:
        with oom_guard("train"):
            _raise(_cuda_oom())
    msg = str(err.value)
    assert "\n" not in msg and "training" in msg and "kernel is fine" in msg
    i_batch, i_len, i_ckpt = msg.index("batch_size"), msg.index("max_seq_len"), msg.index("gradient_checkpointing")
    assert i_batch < i_len < i_ckpt
    assert msg.index("1) batch_size") < msg.index("2) max_seq_len") < msg.index("3) turn gradient_checkpointing")
    assert "grad_accum" in msg  # keep the effective batch when lowering batch_size
    assert err.value.__cause__ is None and err.value.__suppress_context__  # no CUDA stack trace shown


def test_out_of_memory_is_a_user_error():
    # the command line turns it into one line and exit code 2
    assert issubclass(OutOfMemory, SettingsError)
    assert any(issubclass(OutOfMemory, e) for e in USER_ERRORS)


def test_generation_advice_differs():
    with pytest.raises(OutOfMemory) as err:
        with oom_guard("generate"):
            _raise(_cuda_oom())
    msg = str(err.value)
    assert "generation" in msg and "gradient_checkpointing" not in msg and "max_seq_len" not in msg
    assert msg.index("gen_batch_size") < msg.index("max_new_tokens")
    assert advice("generate") != advice("train")
    assert re.findall(r"(\d)\) ", advice("train")) == [str(i) for i in range(1, len(TRAIN_ADVICE) + 1)]
    assert re.findall(r"(\d)\) ", advice("generate")) == [str(i) for i in range(1, len(GENERATE_ADVICE) + 1)]


@pytest.mark.parametrize("exc", [
    RuntimeError("CUDA error: out of memory"),  # older torch / other allocators
    MemoryError("Unable to allocate 8.00 GiB: out of memory"),
    RuntimeError("[enforce fail at alloc_cpu.cpp:83] DefaultCPUAllocator: not enough memory: out of memory"),
])
def test_other_out_of_memory_errors_are_caught(exc):
    assert is_oom(exc)
    with pytest.raises(OutOfMemory):
        with oom_guard():
            raise exc


@pytest.mark.parametrize("exc", [
    ValueError("batch_size must be positive"),
    RuntimeError("mat1 and mat2 shapes cannot be multiplied (4x64 and 32x64)"),
    KeyError("memory"),
    TypeError("out of range"),
])
def test_other_errors_pass_through_unchanged(exc):
    assert not is_oom(exc)
    with pytest.raises(type(exc)) as err:
        with oom_guard("train"):
            raise exc
    assert err.value is exc  # the very same object, not wrapped


def test_keyboard_interrupt_passes_through():
    with pytest.raises(KeyboardInterrupt):
        with oom_guard():
            raise KeyboardInterrupt


def test_no_error_no_effect():
    with oom_guard():
        x = 1 + 1
    assert x == 2


def test_the_process_is_fine_after_an_oom():
    import torch

    def failing_step():
        activations = torch.ones(256, 256)  # noqa: F841 - held by the frame when the error hits
        raise _cuda_oom()

    with pytest.raises(OutOfMemory):
        with oom_guard("train"):
            failing_step()
    # the next computation works normally
    a = torch.arange(12.0).reshape(3, 4)
    assert torch.equal(a @ a.T, torch.tensor([[14.0, 38.0, 62.0], [38.0, 126.0, 214.0], [62.0, 214.0, 366.0]]))
    with oom_guard("train"):  # and the guard can be used again
        assert float(torch.ones(3).sum()) == 3.0


class _Activations:
    """Stands in for the GPU tensors a failing training step holds."""


def _failing_step(refs):
    acts = _Activations()
    refs.append(weakref.ref(acts))
    raise _cuda_oom()


def test_the_failed_steps_memory_is_released_once_the_error_is_gone():
    refs: list = []
    with pytest.raises(OutOfMemory):
        with oom_guard("train"):
            _failing_step(refs)
    gc.collect()
    assert refs[0]() is None


def test_the_failed_steps_memory_is_released_while_the_error_is_kept():
    refs: list = []
    kept = None
    try:
        with oom_guard("train"):
            _failing_step(refs)
    except OutOfMemory as exc:
        kept = exc  # what a notebook does: IPython keeps the last error in sys.last_value
    gc.collect()
    assert kept is not None
    assert refs[0]() is None, "the failed step's activations are still referenced by the kept error"
