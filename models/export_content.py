"""Add the `fashion-content` metric to the two image bundles (models/fashion-ddpm,
models/fashion-flow): rewards/fashion_content.pt (ContentReward over checkpoints/
image_content_clf.npz, written by train_content_clf.py) and its manifest entry, appended after
the existing rewards (replaced when already there). The other modules and entries stay as they
are."""
import json
import os

import common as C
import content_common as CC
from export import script_save

ENTRY = {
    "name": "fashion-content", "file": "rewards/fashion_content.pt", "guidance": False,
    "description": "Content only: log p(prompted class) (clamped at -10; 0 for the null prompt) from a third "
                   "classifier (strided convs with BatchNorm, trained on the t10k split, which the guidance and "
                   "evaluator classifiers never saw). Ignores the attribute words, so raising fashion-match or "
                   "fashion-eval through brightness, size or texture alone does not raise it.",
}


def main():
    clf = CC.ContentCNN()
    C.load_ckpt("image_content_clf", clf)
    reward = CC.ContentReward(clf)
    for bundle in ["fashion-ddpm", "fashion-flow"]:
        d = os.path.join(C.HERE, bundle)
        script_save(reward, os.path.join(d, ENTRY["file"]))
        path = os.path.join(d, "manifest.json")
        with open(path) as f:
            manifest = json.load(f)
        manifest["rewards"] = [r for r in manifest["rewards"] if r["name"] != ENTRY["name"]] + [ENTRY]
        with open(path, "w") as f:
            json.dump(manifest, f, indent=2)
            f.write("\n")
        print(f"{bundle}: wrote {ENTRY['file']} ({os.path.getsize(os.path.join(d, ENTRY['file'])) / 1e6:.2f} MB) "
              f"and its manifest entry")


if __name__ == "__main__":
    C.setup_threads()
    main()
