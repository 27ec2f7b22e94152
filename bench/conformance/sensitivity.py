"""How much each conformance fixture depends on its features: a feature is
taken away through the fixture's config.json (a copy), and the fixture's
check (test/Integration/Inputs/hf_conformance.py) is run on it; each line
should say MISMATCH. The numbers are quoted in docs/models.md.

Usage: PATH=build/bin:$PATH python3 bench/conformance/sensitivity.py [WORKDIR]
"""
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "test", "Integration", "Inputs", "hf")
CHECK = os.path.join(ROOT, "test", "Integration", "Inputs", "hf_conformance.py")

CASES = [
    ("llama3", "default RoPE", lambda c: c.update(rope_parameters={"rope_type": "default", "rope_theta": 500000.0})),
    ("mistral", "no window", lambda c: c.update(sliding_window=None)),
    ("qwen3", "read as qwen2", lambda c: c.update(model_type="qwen2")),
    ("gemma2", "no attention soft-cap", lambda c: c.pop("attn_logit_softcapping")),
    ("gemma2", "no final soft-cap", lambda c: c.pop("final_logit_softcapping")),
    ("gemma2", "head_dim's scale", lambda c: c.update(query_pre_attn_scalar=32)),
    ("gemma2", "all layers global", lambda c: c.update(layer_types=["full_attention"] * 3)),
    ("gemma3", "global theta in the local layers",
     lambda c: c["rope_parameters"]["sliding_attention"].update(rope_theta=1000000.0)),
    ("gemma3", "no linear scaling",
     lambda c: c["rope_parameters"].update(full_attention={"rope_type": "default", "rope_theta": 1000000.0})),
    ("phi3", "default RoPE", lambda c: c.update(rope_parameters={"rope_type": "default", "rope_theta": 10000.0})),
    ("phi3", "no attention factor", lambda c: c.update(max_position_embeddings=64)),
]


def main():
    work = sys.argv[1] if len(sys.argv) > 1 else "/tmp/tok-sensitivity"
    for n, (arch, what, change) in enumerate(CASES):
        d = os.path.join(work, str(n))
        shutil.rmtree(d, ignore_errors=True)
        model = os.path.join(d, "m", arch)
        shutil.copytree(os.path.join(FIXTURES, arch), model)
        path = os.path.join(model, "config.json")
        config = json.load(open(path))
        change(config)
        json.dump(config, open(path, "w"))
        os.makedirs(os.path.join(d, "w"))
        r = subprocess.run([sys.executable, CHECK, "tok-import", "tok-run", os.path.join(d, "w"),
                            os.path.join(d, "m"), arch], capture_output=True, text=True)
        out = r.stdout.splitlines()[0] if r.stdout else r.stderr.strip()
        print("%s, %s: %s" % (arch, what, out))


if __name__ == "__main__":
    main()
