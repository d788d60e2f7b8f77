"""session.run reads the caller's numpy buffer in place and hands its result
buffers to numpy without copying."""
import subprocess
import sys
import textwrap

import numpy as np
import sparq

# A child process builds a model whose only node is a global average pool:
# [64, 64, 64] f32 in, [64] out. The session needs no arena (the input is
# borrowed, the output is the result), so a run allocates ~256 bytes per
# sample, while the input is 1 MiB per sample. The child touches a 64 MiB
# input, notes its peak RSS, runs, and reports how much the peak grew. Any
# copy of the input (a Tensor made from the array, numpy's own conversion)
# would write 64 MiB of fresh pages and raise the peak by about that much.
CHILD = textwrap.dedent(
    """
    import resource, sys
    import numpy as np
    import sparq

    b = sparq.ModelBuilder()
    x = b.input([64, 64, 64])
    b.mark_output(b.global_avg_pool(x))
    session = sparq.Session(b.build(name="pool"), threads=1)
    session.run(np.ones((1, 64, 64, 64), np.float32))  # warm up: code, TBB, allocator
    batch = np.ones((64, 64, 64, 64), np.float32)  # 64 MiB, every page touched
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    (out,) = session.run(batch)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert out.shape == (64, 64) and float(out[0, 0]) == 1.0
    print((after - before) * 1024, batch.nbytes)
    """
)


def test_run_allocates_nothing_proportional_to_the_input():
    result = subprocess.run([sys.executable, "-c", CHILD], check=True, capture_output=True, text=True)
    growth, input_bytes = map(int, result.stdout.split())
    # A copy would add ~input_bytes; allow 1/8 of it for allocator noise.
    assert growth < input_bytes // 8, f"peak RSS grew {growth} bytes on a {input_bytes}-byte input"


def test_outputs_own_the_session_buffer_without_a_copy(fashion_model_path):
    model = sparq.Model.load(fashion_model_path)
    (out,) = sparq.Session(model, threads=1).run(np.zeros((3, 1, 28, 28), np.float32))
    # The array does not own a numpy allocation: its memory is the Tensor's,
    # kept alive by a capsule that frees it with the array.
    assert not out.flags.owndata
    assert type(out.base).__name__ == "PyCapsule"
    assert out.flags.c_contiguous and out.flags.writeable
    out += 1.0  # writable, and the memory stays valid after the session is gone
    del model
    assert np.isfinite(out).all()
