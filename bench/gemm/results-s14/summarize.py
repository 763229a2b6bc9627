"""Best-of-runs table of two sets of bench/gemm outputs: python3 summarize.py 'fin_base*.txt' 'fin_new*.txt'."""
import sys,re,glob
def load(files):
    d={}
    for f in files:
        for line in open(f):
            if not line.startswith('| ') or 'config' in line or '---' in line: continue
            c=[x.strip() for x in line.strip().strip('|').split('|')]
            if len(c)<13: continue
            key=(c[0],c[1],c[2])
            try: us=[float(x.strip('*')) for x in c[3:7]]
            except ValueError: continue
            if key not in d: d[key]=us
            else: d[key]=[min(a,b) for a,b in zip(d[key],us)]
    return d
base=load(sorted(glob.glob(sys.argv[1])))
new=load(sorted(glob.glob(sys.argv[2])))
libs=['ours','gemm','faer','mm']
print("| config | product | m×k×n | before: µs ours / best other (lib), ours % of best | after: µs ours / best other (lib), ours % of best | GFLOP/s ours after |")
print("|---|---|---|---|---|---|")
for key,us in new.items():
    if key[2].count('×') != 2 or not key[2].replace('×','').isdigit(): continue
    def fmt(u):
        o=u[0]; bi=min(range(1,4),key=lambda i:u[i]); b=u[bi]
        return f"{o:.2f} / {b:.2f} ({libs[bi]}), {100*min(o,b)/o:.0f}%"
    m,k,n=[int(x) for x in key[2].split('×')]
    gf=2*m*k*n/us[0]*1e-3
    print(f"| {key[0]} | {key[1]} | {key[2]} | {fmt(base[key]) if key in base else '—'} | {fmt(us)} | {gf:.1f} |")
