# Builds 200,000-frame Binance trade / aggTrade captures by looping the real BTCUSDT `trade` frames of
# Tests/Fixtures/binance/spot-btcusdt-2024-08-08.jsonl.gz; pass k shifts recv_ns, E, T and the ids so the
# stream continues without gaps or duplicates. aggTrade variant: same trades written as aggTrade (a=f=l=t).
import gzip, json, sys
# usage: python3 make-trade-captures.py Tests/Fixtures/binance/spot-btcusdt-2024-08-08.jsonl.gz OUTDIR
src = sys.argv[1]
OUT = sys.argv[2]
recs = []
for line in gzip.open(src, 'rt'):
    r = json.loads(line)
    if r['kind'] == 'ws' and '@trade' in r['frame'][:40]:
        recs.append((r['recv_ns'], json.loads(r['frame'])))
ts = [d['data']['T'] for _, d in recs]; ids = [d['data']['t'] for _, d in recs]
span_ms = max(ts) - min(ts) + 1000
idspan = max(ids) - min(ids) + 1
recv0 = recs[0][0]; rspan = max(r for r, _ in recs) - recv0 + 1_000_000
assert span_ms * 1_000_000 >= rspan
def write(path, agg):
    n = 0
    with open(path, 'w') as out:
        k = 0
        while n < 200_000:
            for recv, d in recs:
                if n >= 200_000: break
                x = d['data']; sh = k * span_ms; t = x['t'] + k * idspan
                if agg:
                    data = {"e": "aggTrade", "E": x['E'] + sh, "s": x['s'], "a": t, "p": x['p'], "q": x['q'],
                            "f": t, "l": t, "T": x['T'] + sh, "m": x['m'], "M": x['M']}
                    stream = "btcusdt@aggTrade"
                else:
                    data = dict(x); data['E'] += sh; data['T'] += sh; data['t'] = t
                    stream = d['stream']
                frame = json.dumps({"stream": stream, "data": data}, separators=(',', ':'))
                out.write(json.dumps({"recv_ns": recv + k * span_ms * 1_000_000, "venue": "binance", "kind": "ws", "frame": frame}, separators=(',', ':')) + "\n")
                n += 1
            k += 1
    print(path, n, "frames,", k, "passes of", len(recs))
write(OUT + '/trades-200k.jsonl', False)
write(OUT + '/aggtrades-200k.jsonl', True)
