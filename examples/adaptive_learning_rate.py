"""§4 Adaptive learning rate: one step size per parameter, and a step size that changes in time.

Runs the section's experiments (their code is in ``jaxtrain/lecture/adaptive_learning_rate.py``)
and writes each claim's figure into the output folder:

    python examples/adaptive_learning_rate.py --quick --out jaxtrain-out
"""

from jaxtrain.lecture import adaptive_learning_rate, run_example

if __name__ == "__main__":
    run_example(adaptive_learning_rate.SECTION)
