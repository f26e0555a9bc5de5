"""One writer per synthetic dataset, each producing the real dataset's official layout
(``/work/shared/reference/datasets.md``) plus SynthAU's side files (see ``common``)."""
from . import afewva, bp4d, disfa, emotionet, faces, fec, ffhq

WRITERS = {
    "synth-disfa": disfa.write,
    "synth-bp4d": bp4d.write_bp4d,
    "synth-bp4dplus": bp4d.write_bp4dplus,
    "synth-emotionet": emotionet.write,
    "synth-fec": fec.write,
    "synth-faces": faces.write,
    "synth-ffhq": ffhq.write,
    "synth-afewva": afewva.write,
}
