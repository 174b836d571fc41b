# Builds a multi-instrument Binance depth capture for memory figures (issue 20: RSS for hundreds of
# books). Each of N made-up spot symbols (AAAUSDT, AABUSDT, ...) gets the real BTCUSDT REST snapshot
# and the first K real depth diffs of Tests/Fixtures/binance/spot-btcusdt-2024-08-08.jsonl.gz, with the
# symbol renamed; instruments are interleaved by recv_ns (each shifted by a few microseconds).
# usage: python3 make-book-captures.py FIXTURE OUT.jsonl [N=500] [K=100]
import gzip, json, string, sys, itertools
src, out = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 500
k = int(sys.argv[4]) if len(sys.argv) > 4 else 100
recs = []
rest_seen = False
after = 0
for line in gzip.open(src, 'rt'):
    r = json.loads(line)
    if r['kind'] == 'rest':
        recs.append(r); rest_seen = True
    elif r['kind'] == 'ws' and '@depth' in r['frame'][:40]:
        recs.append(r)
        if rest_seen:
            after += 1
            if after >= k: break
names = [''.join(p) for p in itertools.product(string.ascii_uppercase, repeat=3)][:n]
lines = []
for i, base in enumerate(names):
    sym = base + 'USDT'
    for r in recs:
        x = dict(r)
        x['recv_ns'] = r['recv_ns'] + i * 1000
        x['frame'] = r['frame'].replace('btcusdt@', sym.lower() + '@').replace('"BTCUSDT"', '"' + sym + '"')
        if 'url' in x: x['url'] = r['url'].replace('symbol=BTCUSDT', 'symbol=' + sym)
        lines.append(x)
lines.sort(key=lambda x: x['recv_ns'])
with open(out, 'w') as f:
    for x in lines: f.write(json.dumps(x, separators=(',', ':')) + '\n')
print(out, len(lines), 'lines,', n, 'instruments,', len(recs), 'records each')
