"""Independent evaluator classifier (EvalCNN, 5x5 convs + FC head), different seed (2024)."""
import common as C
from train_classifier import run

if __name__ == "__main__":
    run("eval_clf", C.EvalCNN, seed=2024, iters=3000, batch=256, lr=1.5e-3, label_smoothing=0.0)
