"""§2 Critical points: saddle or minimum, the way down, and the minimum ratio where g ≈ 0.

Runs the section's experiments (their code is in ``jaxtrain/lecture/critical_points.py``)
and writes each claim's figure into the output folder:

    python examples/critical_points.py --quick --out jaxtrain-out
"""

from jaxtrain.lecture import critical_points, run_example

if __name__ == "__main__":
    run_example(critical_points.SECTION)
