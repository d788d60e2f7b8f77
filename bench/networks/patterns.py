"""Which taps of a pruned 3x3 convolution survive.

Every (output, input) kernel keeps exactly k of its 9 taps. `random`: each
kernel draws its own k positions. `shared`: all kernels of a block of 16
output x 4 input channels use one set of positions, sparq's
PatternSharing{out_group = 16, in_group = 4}.

sparq's importer reports the largest group whose blocks all agree, so
neighbouring blocks are made to differ: a block never repeats the pattern of
the block before it along either axis when that pair would merge into a
larger group (32 x 4 or 16 x 8). Then the importer sees exactly 16 x 4.
"""

import itertools

import numpy as np

OUT_GROUP = 16
IN_GROUP = 4


def random_mask(rng, out_channels, in_channels, k):
    """[O, I, 9] bool, k True per kernel at positions drawn per kernel."""
    order = np.argsort(rng.random((out_channels, in_channels, 9)), axis=2)
    mask = np.zeros((out_channels, in_channels, 9), dtype=bool)
    np.put_along_axis(mask, order[:, :, :k], True, axis=2)
    return mask


def shared_mask(rng, out_channels, in_channels, k):
    """[O, I, 9] bool, one k-of-9 pattern per 16 x 4 block of kernels."""
    patterns = [np.array(p) for p in itertools.combinations(range(9), k)]
    blocks_o = -(-out_channels // OUT_GROUP)
    blocks_i = -(-in_channels // IN_GROUP)
    chosen = np.zeros((blocks_o, blocks_i), dtype=np.int64)
    for bo in range(blocks_o):
        for bi in range(blocks_i):
            # Pairs (2a, 2a + 1) along an axis are what a doubled group would
            # merge; the second of each pair avoids the first's pattern.
            banned = set()
            if len(patterns) > 1:
                if bo % 2 == 1:
                    banned.add(chosen[bo - 1, bi])
                if bi % 2 == 1:
                    banned.add(chosen[bo, bi - 1])
            allowed = [p for p in range(len(patterns)) if p not in banned]
            chosen[bo, bi] = allowed[rng.integers(len(allowed))]
    mask = np.zeros((out_channels, in_channels, 9), dtype=bool)
    for bo in range(blocks_o):
        for bi in range(blocks_i):
            taps = patterns[chosen[bo, bi]]
            mask[bo * OUT_GROUP:(bo + 1) * OUT_GROUP, bi * IN_GROUP:(bi + 1) * IN_GROUP, taps] = True
    return mask


def tap_mask(rng, sharing, out_channels, in_channels, k):
    if not 1 <= k <= 9:
        raise ValueError(f"k must be in 1..9, got {k}")
    if sharing == "random":
        return random_mask(rng, out_channels, in_channels, k)
    if sharing == "shared":
        return shared_mask(rng, out_channels, in_channels, k)
    raise ValueError(f"sharing must be random or shared, got {sharing}")
