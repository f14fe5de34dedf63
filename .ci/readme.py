"""Write README.md from nbs/index.ipynb (Quarto, which nbdev-readme needs, cannot be installed here).

Markdown cells are copied; code cells become ```python blocks; cells marked `#| hide` are left out,
and `#|` directive lines are dropped. With --check, exit 1 when README.md is not up to date.
"""
import json, sys
from pathlib import Path

root = Path(__file__).resolve().parents[1]
nb = json.loads((root / "nbs/index.ipynb").read_text())
parts = ["<!-- Generated from nbs/index.ipynb by .ci/readme.py: edit the notebook, then run `make sync`. -->"]
for cell in nb["cells"]:
    src = "".join(cell["source"])
    lines = src.splitlines()
    if cell["cell_type"] == "code":
        if any(l.strip() in ("#| hide", "#|hide") for l in lines): continue
        code = "\n".join(l for l in lines if not l.startswith("#|")).strip()
        if code: parts.append(f"```python\n{code}\n```")
    else:
        parts.append(src.strip())
text = "\n\n".join(parts) + "\n"
# nbdev's "> subtitle" line reads better as a plain line under the title
readme = root / "README.md"
if "--check" in sys.argv:
    if not readme.exists() or readme.read_text() != text:
        print("README.md is out of step with nbs/index.ipynb: run `make sync`.")
        sys.exit(1)
else:
    readme.write_text(text)
