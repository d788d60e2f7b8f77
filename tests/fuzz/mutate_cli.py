#!/usr/bin/python3
# Mutation run of the real `sparq` binary on hostile variants of the CLI
# fixtures: models (with and without a checksum), images, IDX data sets.
# Each case runs under a 3 GB address-space cap and a 20 s timeout and is
# counted as a clean error (exit 2-6, one "sparq: ..." line), a success,
# a crash (signal), a hang, an allocation failure, or a silent wrong result
# (a checksummed model that loads and gives other outputs). Prints a JSON table.
#   build/release/tests/cli/write_cli_fixtures FX --hostile
#   /usr/bin/python3 tests/fuzz/mutate_cli.py build/release/tools/cli/sparq FX 3000 2000 1000
import os, random, resource, shutil, subprocess, sys, json, tempfile
sparq, fx = sys.argv[1], sys.argv[2]
n_models, n_images, n_idx = map(int, sys.argv[3:6])
work = tempfile.mkdtemp(prefix='sparq_mutate_')
rng = random.Random(19)
LIMIT = 3_000_000 * 1024

def cap():
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))

def run(args):
    try:
        p = subprocess.run([sparq] + args, capture_output=True, timeout=20, preexec_fn=cap)
        return p.returncode, p.stdout, p.stderr.decode('utf-8', 'replace')
    except subprocess.TimeoutExpired:
        return 'hang', b'', ''

def mutate(b):
    b = bytearray(b)
    kind = rng.randrange(5)
    if kind == 0:      # 1-4 bit flips
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(b) * 8); b[i // 8] ^= 1 << (i % 8)
    elif kind == 1:    # interesting byte values
        for _ in range(rng.randint(1, 3)):
            b[rng.randrange(len(b))] = rng.choice([0, 0xff, 0x7f, 0x80, 0x01])
    elif kind == 2:    # a 32-bit word set to a large value
        i = rng.randrange(max(1, len(b) - 4))
        b[i:i+4] = rng.choice([0x7fffffff, 0xffffffff, 0x40000000, 0x00004000, 0x80000000]).to_bytes(4, rng.choice(['little', 'big']))
    elif kind == 3:    # truncate
        del b[rng.randrange(len(b)):]
    else:              # insert or delete a chunk
        i = rng.randrange(len(b))
        if rng.random() < 0.5: b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        else: del b[i:i + rng.randint(1, 16)]
    return bytes(b)

def classify(rc, err):
    if rc == 'hang': return 'hang'
    if isinstance(rc, int) and (rc < 0 or rc >= 128): return 'crash'
    if 'bad_alloc' in err or 'out of memory' in err or 'Cannot allocate' in err: return 'alloc'
    if rc in (2, 3, 4, 5, 6) and err.startswith('sparq: ') and err.count('\n') <= 2: return 'clean'
    if rc == 0: return 'ok'
    return 'other:%s' % rc

table = {}
def count(cls, outcome, wrong=False):
    row = table.setdefault(cls, {'cases': 0, 'clean': 0, 'ok': 0, 'crash': 0, 'hang': 0, 'alloc': 0, 'wrong': 0, 'other': 0})
    row['cases'] += 1
    key = outcome if outcome in row else 'other'
    row[key] += 1
    if wrong: row['wrong'] += 1
    if key in ('crash', 'hang', 'alloc', 'other'):
        print(cls, outcome, file=sys.stderr)

image = os.path.join(fx, 'shirt.png')
for name, n, sealed in [('classifier_k3.sparq', n_models * 2 // 3, True), ('unchecked.sparq', n_models // 3, False)]:
    base = open(os.path.join(fx, name), 'rb').read()
    _, ref_out, _ = run(['run', '--json', os.path.join(fx, name), image])
    ref = json.loads(ref_out)['outputs']
    for k in range(n):
        path = os.path.join(work, 'm.sparq'); open(path, 'wb').write(mutate(base))
        rc, out, err = run(['run', '--json', path, image])
        o = classify(rc, err)
        wrong = False
        if o == 'ok' and sealed:
            wrong = json.loads(out)['outputs'] != ref
        count('model (' + ('sealed' if sealed else 'no checksum') + ')', o, wrong)
model = os.path.join(fx, 'classifier_k3.sparq')
imgs = ['shirt.png', 'big.jpg', 'small.pgm', 'tile.bmp', 'topdown.bmp']
for k in range(n_images):
    src = imgs[k % len(imgs)]
    b = open(os.path.join(fx, src), 'rb').read()
    path = os.path.join(work, 'i' + os.path.splitext(src)[1]); open(path, 'wb').write(mutate(b))
    rc, out, err = run(['run', model, path])
    count('image', classify(rc, err))
ib = open(os.path.join(fx, 'tiny-images-idx3-ubyte'), 'rb').read()
lb = open(os.path.join(fx, 'tiny-labels-idx1-ubyte'), 'rb').read()
for k in range(n_idx):
    ip = os.path.join(work, 'mut-images-idx3-ubyte'); lp = os.path.join(work, 'mut-labels-idx1-ubyte')
    if k % 2: open(ip, 'wb').write(mutate(ib)); open(lp, 'wb').write(lb)
    else: open(ip, 'wb').write(ib); open(lp, 'wb').write(mutate(lb))
    rc, out, err = run(['eval', '--no-progress', model, ip])
    count('IDX data set', classify(rc, err))
print(json.dumps(table, indent=1))
shutil.rmtree(work)
