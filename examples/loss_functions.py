"""§5 Loss functions: softmax and its two-class sigmoid, and why cross-entropy beats MSE.

Runs the section's experiments (their code is in ``jaxtrain/lecture/loss_functions.py``)
and writes each claim's figure into the output folder:

    python examples/loss_functions.py --quick --out jaxtrain-out
"""

from jaxtrain.lecture import loss_functions, run_example

if __name__ == "__main__":
    run_example(loss_functions.SECTION)
