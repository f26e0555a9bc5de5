"""SynthAU writers: official layouts (read back by the real-data readers), side files,
failure injection, determinism, fingerprint caching, CLI. Smoke-sized datasets."""
from __future__ import annotations

import json
import re
import zipfile

import cv2
import numpy as np
import pandas as pd
import pytest

from aulib.face.landmark_table import load_landmark_table
from aulib.synth import AUS, DISFA_CODED, NAMES, SIZES, ensure
from aulib.synth.__main__ import main as cli
from aulib.synth.store import FINGERPRINT, dataset_dir
from aulib.synth.writers.common import LAYOUTS

GT = "synthau_ground_truth.csv.gz"


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthau")
    return root, {name: ensure(name, "smoke", root=root) for name in NAMES}


def test_folders_are_named_by_profile_and_seed(smoke, tmp_path):
    root, paths = smoke
    assert paths["synth-disfa"] == root.resolve() / "synthau" / "smoke" / "synth-disfa"
    assert dataset_dir("synth-disfa", "tiny", tmp_path, seed=3).parts[-2:] == ("tiny-seed3", "synth-disfa")
    for p in paths.values():
        assert (p / FINGERPRINT).is_file() and (p / "landmarks_68.npz").is_file()
    with pytest.raises(KeyError, match="available"):
        ensure("synth-nope", "smoke", root=tmp_path)


def test_disfa_layout(smoke):
    """DISFA facts: layouts.toml [disfa] (label files and lines: ME-GraphAU
    tool/DISFA_image_label_process.py; frames img/<SN>/<i>.png, 0-based: ME-GraphAU tool/README)."""
    root = smoke[1]["synth-disfa"]
    subjects = sorted(p.name for p in (root / "ActionUnit_Labels").iterdir())
    assert len(subjects) == 27 and "SN014" not in subjects and "SN032" in subjects
    for sn in subjects:
        assert (root / "Videos_LeftCamera" / f"LeftVideo{sn}_comp.avi").is_file()
        files = sorted(f.name for f in (root / "ActionUnit_Labels" / sn).iterdir())
        assert files == sorted(f"{sn}_au{a}.txt" for a in LAYOUTS["disfa"]["coded_aus"])
        assert files == sorted(f"{sn}_au{a[2:]}.txt" for a in DISFA_CODED)
    lines = (root / "ActionUnit_Labels/SN001/SN001_au12.txt").read_text().splitlines()
    assert all(re.fullmatch(r"\d+,[0-5]", ln) for ln in lines)
    assert [int(ln.split(",")[0]) for ln in lines] == list(range(1, len(lines) + 1))
    # ME-GraphAU's list: label line i+1 <-> img/SN001/<i>.png, PNG, nothing else in the folder
    pngs = sorted((root / "img" / "SN001").iterdir(), key=lambda f: int(f.stem))
    assert [f.name for f in pngs] == [LAYOUTS["disfa"]["megraphau_frames"].format(
        subject="SN001", index=i).split("/")[-1] for i in range(len(lines))]
    assert pngs[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    cap = cv2.VideoCapture(str(root / "Videos_LeftCamera/LeftVideoSN001_comp.avi"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == len(lines)
    ok, frame = cap.read()
    assert ok and frame.shape == (128, 128, 3)
    # labels equal the ground truth side file
    gt = pd.read_csv(root / GT)
    sn1 = gt[gt.subject == "SN001"].sort_values("frame")
    assert [int(ln.split(",")[1]) for ln in lines] == sn1["AU12_int"].tolist()
    assert sn1["path"].tolist() == [f"img/SN001/{i}.png" for i in range(len(lines))]


def _occ_csvs(root):
    return sorted((root / "AUCoding" / "AU_OCC").glob("*.csv"))


def test_bp4d_layout(smoke):
    """BP4D facts, layouts.toml [bp4d]: header '0' + the AU columns OpenGraphAU selects by name
    (CVI-SZU/ME-GraphAU OpenGraphAU/tool/dataset_process.py), 9 = unknown (py-feat), rows cover
    the coded segment with consecutive frames (ME-GraphAU's BP4D lists), image number = CSV
    frame (ME-GraphAU tool/BP4D_image_label_process.py)."""
    lay = LAYOUTS["bp4d"]
    root = smoke[1]["synth-bp4d"]
    assert len(list((root / "Sequences(2D+3D)").iterdir())) == 41
    csvs = _occ_csvs(root)
    assert len(csvs) == 41 * len(lay["tasks"])
    assert all(re.fullmatch(r"[FM]\d{3}_T[1-8]", c.stem) for c in csvs)
    gt = pd.read_csv(root / GT, keep_default_na=False)
    animated = {int(a[2:]) for a in AUS}
    for csv in csvs:
        header = csv.read_text().splitlines()[0].split(",")
        assert header == [lay["frame_column"]] + [str(a) for a in lay["occ_aus"]]
        assert {"32", "38", "39"} <= set(header) and "3" not in header
        df = pd.read_csv(csv, header=0, index_col=0)
        assert set(np.unique(df.values)) <= {0, 1, lay["unknown"]}
        never = [str(a) for a in lay["occ_aus"] if a not in animated]
        assert (df[never] == 0).all().all()                        # never animated: absent
        not_evaluated = [c for c in df.columns if int(c) not in lay["evaluated_aus"]]
        assert not (df[not_evaluated] == lay["unknown"]).any().any()   # 9 only where injected
        assert np.array_equal(np.diff(df.index), np.ones(len(df) - 1))  # the whole segment
        subj, task = csv.stem.split("_")
        for f in df.index:
            assert (root / lay["frames"].format(subject=subj, task=task, frame=f)).is_file()
        seq = gt[(gt.subject == subj) & (gt.task == task) & gt.coded.astype(str).eq("True")]
        seq = seq.set_index("frame_number").loc[df.index]
        known = df["12"] != lay["unknown"]
        assert (df.loc[known, "12"] == (seq.loc[known, "AU12_val"] >= 1)).all()
    assert (~gt["coded"].astype(str).eq("True")).sum() > 0        # uncoded frames exist
    info = json.loads((root / "synthau_info.json").read_text())
    assert "time-subsampled" in info["seconds_between_frames"] and info["never_animated_aus_written_as"] == 0


def test_bp4dplus_layout(smoke):
    """BP4D+ facts, layouts.toml [bp4dplus]: AU_OCC columns in the order a positional reader
    takes them, AU_INT/AU06/<Subj>_<Task>_AU06.csv (header-less, same rows), frames in
    2D+3D/<Subj>.zip with members <Subj>/<Task>/<n>.jpg and CSV frame f = f-th image of the
    task (ubicomplab/rPPG-Toolbox BP4DPlusBigSmallLoader.py)."""
    lay = LAYOUTS["bp4dplus"]
    root = smoke[1]["synth-bp4dplus"]
    zips = sorted((root / "2D+3D").iterdir())
    assert len(zips) == 140 and all(re.fullmatch(r"[FM]\d{3}\.zip", z.name) for z in zips)
    csvs = _occ_csvs(root)
    assert len(csvs) == 140 * len(lay["coded_tasks"])
    assert {c.stem.split("_")[1] for c in csvs} == set(lay["coded_tasks"])
    for csv in csvs[:12]:
        subj, task = csv.stem.split("_")
        occ = pd.read_csv(csv, header=0).to_numpy()
        header = csv.read_text().splitlines()[0].split(",")
        assert header == [lay["frame_column"]] + [str(a) for a in lay["occ_aus"]]
        with zipfile.ZipFile(root / lay["frames_archive"].format(subject=subj)) as z:
            members = [m for m in z.namelist() if m.split("/")[1] == task]
        assert members == [lay["frames_archive_members"].format(subject=subj, task=task, frame=k)
                           for k in range(1, len(members) + 1)]
        assert occ[-1, 0] <= len(members)          # CSV frame f is the f-th image of the task
        for au in lay["int_aus"]:
            f = root / lay["int_dir"].format(au=au) / lay["int_file"].format(subject=subj, task=task, au=au)
            inten = pd.read_csv(f, header=None).to_numpy()
            assert inten.shape == (len(occ), 2) and (inten[:, 0] == occ[:, 0]).all()
            o = occ[:, 1 + lay["occ_aus"].index(au)]
            assert ((inten[:, 1] == lay["unknown"]) == (o == lay["unknown"])).all()
            known = o != lay["unknown"]
            assert ((inten[known, 1] >= 1) == (o[known] == 1)).all() and inten[known, 1].max() <= 5
    gt = pd.read_csv(root / GT)
    assert gt["path"].str.fullmatch(r"2D\+3D/[FM]\d{3}\.zip#[FM]\d{3}/T\d+/\d{4}\.jpg").all()


def test_emotionet_layout(smoke):
    """EmotioNet facts, layouts.toml [emotionet]: URL, URL orig, then the 2020 release's 23 AU
    columns named 'AU k' (radekd91/emoca EMOTIONET23; py-feat trainAUvisModel selects by those
    names); 1 / 0 / 999; ADLD's lists kept in synthau/ (they ship with ADLD's code)."""
    lay = LAYOUTS["emotionet"]
    emo = smoke[1]["synth-emotionet"]
    lab = pd.read_csv(emo / lay["label_file"])
    assert list(lab.columns) == lay["first_columns"] + [lay["au_header"].format(au=a) for a in lay["aus"]]
    py_feat = ["AU1", "AU2", "AU4", "AU5", "AU6", "AU9", "AU10", "AU12", "AU15", "AU17",
               "AU18", "AU20", "AU24", "AU25", "AU26", "AU28", "AU43"]
    assert set(py_feat) <= {c.replace("'", "").replace(" ", "") for c in lab.columns}
    aus = lab.columns[2:]
    assert set(np.unique(lab[aus].values)) <= {lay["present"], lay["absent"], lay["unknown"]}
    assert (lab[[f"'AU {a}'" for a in range(51, 57)]] == lay["unknown"]).all().all()
    assert (lab[["'AU 18'", "'AU 28'", "'AU 43'"]] == lay["absent"]).all().all()
    assert lab["'AU 12'"].isin([0, 1]).mean() > 0.9
    for f in lay["adld_lists"]:
        assert not (emo / f).exists() and (emo / "synthau" / f).is_file()
    val = (emo / "synthau" / "emotioNet_val_path.txt").read_text().split()
    test = (emo / "synthau" / "emotioNet_test_path.txt").read_text().split()
    train = (emo / "synthau" / "emotioNet_train_path.txt").read_text().split()
    assert len(lab) == len(val) + len(test) and not set(train) & set(val + test)
    assert all(re.fullmatch(r"optimization_set/N_\d{10}/N_\d{10}_\d{5}\.jpg", x) for x in train)
    names = set(lab["URL"].str.rsplit("/", n=1).str[-1])
    assert names == {x.rsplit("/", 1)[-1] for x in val + test}


def test_ffhq_layout(smoke):
    """FFHQ facts, layouts.toml [ffhq] (NVlabs/ffhq-dataset README 'Metadata', download_ffhq.py):
    entry, metadata and file-block keys; md5 of the written file and of its pixels;
    image.face_landmarks in the 1024-px frame; in_the_wild with face_rect and face_quad;
    LICENSE.txt; our ffhq_landmarks reads every entry back in the thumbnail's pixels."""
    import hashlib

    from PIL import Image

    from aulib.data.readers.faces import ffhq_landmarks

    lay = LAYOUTS["ffhq"]
    root = smoke[1]["synth-ffhq"]
    meta = json.loads((root / lay["json"]).read_text())
    assert list(meta) == [str(i) for i in range(50)]
    table = load_landmark_table(root / "landmarks_68.npz")
    for k, e in meta.items():
        assert list(e) == lay["entry_keys"] and list(e["metadata"]) == lay["metadata_keys"]
        assert e["category"] in lay["categories"]
        for block, extra in (("image", lay["image_extra_keys"]), ("thumbnail", []),
                             ("in_the_wild", lay["in_the_wild_extra_keys"])):
            assert list(e[block]) == lay["file_keys"] + extra
        th = e["thumbnail"]
        i = int(k)
        assert th["file_path"] == lay["thumbnail_path"].format(group=i - i % 1000, index=i)
        assert e["image"]["file_path"] == lay["image_path"].format(group=i - i % 1000, index=i)
        data = (root / th["file_path"]).read_bytes()
        assert th["file_size"] == len(data) and th["file_md5"] == hashlib.md5(data).hexdigest()
        assert e["image"]["file_md5"] is None and e["image"]["pixel_size"] == [1024, 1024]
        lm = np.asarray(e["image"]["face_landmarks"])
        assert lm.shape == (68, 2) and np.asarray(e["in_the_wild"]["face_quad"]).shape == (4, 2)
        assert len(e["in_the_wild"]["face_rect"]) == 4
        gt = table.get(th["file_path"])
        if gt is not None:
            assert np.allclose(lm / 8, gt, atol=0.01)
            with Image.open(root / th["file_path"]) as im:
                assert th["pixel_md5"] == hashlib.md5(np.array(im)).hexdigest()
    assert [m["category"] for m in meta.values()].count("validation") == 50 // 7
    for lic in ("LICENSE.txt", "thumbnails128x128/LICENSE.txt"):
        assert "SynthAU" in (root / lic).read_text()
    data = pytest.importorskip("aulib.data")
    index = data.frame_index("ffhq", root=root, refresh=True)
    lms = ffhq_landmarks(root, index)
    assert lms.found.sum() == len(index)                   # every indexed entry, in 128 px
    one = index.path.iloc[0]
    assert np.allclose(lms.get(one), table.get(one), atol=0.01)


def test_lfw_layout_and_protocol(smoke):
    """LFW facts, layouts.toml [lfw] (davidsandberg/facenet data/pairs.txt; torchvision
    datasets/lfw.py): header, per fold matched then mismatched lines, disjoint identities
    across folds, no repeats, matched pairs smaller number first, blocks sorted by name;
    people.txt with one block per fold holding exactly that fold's people."""
    from aulib.data.layouts import lfw_protocol_problems
    from aulib.data.readers.faces import lfw_pairs

    lay = LAYOUTS["lfw"]
    faces = smoke[1]["synth-faces"]
    sizes = SIZES["synth-faces"]["smoke"]
    lines = (faces / lay["pairs_file"]).read_text().splitlines()
    assert lines[0] == lay["pairs_header"].format(folds=sizes["lfw_folds"], pairs=sizes["lfw_pairs"])
    per = sizes["lfw_pairs"]
    assert len(lines) == 1 + 2 * sizes["lfw_folds"] * per
    pairs = lfw_pairs(faces)
    assert lfw_protocol_problems(pairs, per) == []
    for fold in range(sizes["lfw_folds"]):
        block = lines[1 + 2 * per * fold: 1 + 2 * per * (fold + 1)]
        matched, mismatched = block[:per], block[per:]
        assert all(len(m.split("\t")) == 3 for m in matched)
        assert all(len(m.split("\t")) == 4 for m in mismatched)
        assert matched == sorted(matched, key=lambda m: m.split("\t")[0])
        assert all(m.split("\t")[0] < m.split("\t")[2] for m in mismatched)
    for p in pairs.itertuples():
        assert (faces / p.path1).is_file() and (faces / p.path2).is_file()
    # people.txt as torchvision's LFWPeople reads it: <folds>, then per fold <n> + n lines
    people = (faces / lay["people_file"]).read_text().splitlines()
    assert int(people[0]) == sizes["lfw_folds"]
    s, fold_people = 1, []
    for _ in range(sizes["lfw_folds"]):
        n = int(people[s])
        fold_people.append({ln.split("\t")[0] for ln in people[s + 1:s + 1 + n]})
        s += n + 1
    assert s == len(people)
    assert sum(len(f) for f in fold_people) == sizes["lfw_people"]      # every person, once
    for fold, names in enumerate(fold_people):
        used = set(pairs[pairs.fold == fold].name1) | set(pairs[pairs.fold == fold].name2)
        assert used <= names


def test_lfw_protocol_problems_are_named():
    """A pairs file that leaks identities, repeats a pair or puts the larger number first is
    refused with each fault named (the faults the old synth-faces pairs.txt had)."""
    from aulib.data.layouts import lfw_protocol_problems

    rows = [dict(fold=0, name1="A", idx1=2, name2="A", idx2=1, same=True),
            dict(fold=0, name1="A", idx1=1, name2="B", idx2=1, same=False),
            dict(fold=1, name1="A", idx1=1, name2="A", idx2=3, same=True),
            dict(fold=1, name1="A", idx1=1, name2="B", idx2=1, same=False)]
    problems = " | ".join(lfw_protocol_problems(pd.DataFrame(rows), 1))
    assert "2 people appear in more than one fold" in problems
    assert "1 pair lines repeat" in problems
    assert "1 matched pairs do not list the smaller image number first" in problems


def test_other_layouts(smoke):
    p = smoke[1]
    fec = pd.read_csv(p["synth-fec"] / "faceexp-comparison-data-train-public.csv", header=None)
    assert fec.shape[1] == 28 and set(fec[15]) <= {"ONE_CLASS_TRIPLET", "TWO_CLASS_TRIPLET",
                                                    "THREE_CLASS_TRIPLET"}
    assert set(fec[17]) <= {1, 2, 3} and fec[[1, 2, 3, 4]].to_numpy().max() <= 1
    faces = p["synth-faces"]
    assert re.fullmatch(r"\d{7}", next((faces / "CASIA-WebFace").iterdir()).name)
    clip = json.loads((p["synth-afewva"] / "001" / "001.json").read_text())
    fr = next(iter(clip["frames"].values()))
    assert clip["video_id"] == "001" and len(fr["landmarks"]) == 68 and -10 <= fr["valence"] <= 10


def test_failures_are_injected_and_recorded(smoke):
    root = smoke[1]["synth-disfa"]
    gt = pd.read_csv(root / GT, keep_default_na=False)
    table = load_landmark_table(root / "landmarks_68.npz")
    assert table.source == "synthau-ground-truth"
    corrupt = gt[gt.failure == "corrupt"].path.tolist()
    noface = gt[gt.failure == "no_face"].path.tolist()
    assert corrupt and noface
    for rel in corrupt:
        assert cv2.imread(str(root / rel)) is None         # not decodable
        assert table.get(rel) is None
    for rel in noface:
        assert cv2.imread(str(root / rel)) is not None and table.get(rel) is None
    if getattr(table, "reason", None) is not None:       # the ledger's reason per frame
        reason = dict(zip(table.paths.tolist(), table.reason.tolist()))
        assert {reason[r] for r in corrupt} == {"corrupt file"}
        assert {reason[r] for r in noface} == {"no face"}
    ok = gt[gt.failure == ""].path.iloc[0]
    lm = table.get(ok)
    assert lm.shape == (68, 2) and np.isfinite(lm).all()
    assert table.get("Videos_LeftCamera/LeftVideoSN002_comp.avi#0") is not None


def test_real_readers_read_the_synthetic_layouts(smoke):
    data = pytest.importorskip("aulib.data")
    p = smoke[1]
    d = data.frame_index("disfa", root=p["synth-disfa"], refresh=True)
    assert d.subject.nunique() == 27 and {"AU1", "AU26"} <= set(d.columns)
    gt = pd.read_csv(p["synth-disfa"] / GT)
    merged = d[["path", "AU12"]].merge(gt[["path", "AU12_int"]], on="path")
    assert len(merged) == len(d)
    assert (merged["AU12"] == (merged["AU12_int"] >= 2)).all()   # threshold 2 on our intensities
    b = data.frame_index("bp4d", root=p["synth-bp4d"], refresh=True)
    assert b.subject.nunique() == 41 and b["AU7"].notna().any()
    assert (b["AU11"] == 0).all() and {"AU32", "AU38", "AU39"} <= set(b.columns)
    gt = pd.read_csv(p["synth-bp4d"] / GT)
    merged = b[["path", "AU12"]].dropna().merge(gt[["path", "AU12_val"]], on="path")
    assert len(merged) == b["AU12"].notna().sum()
    assert (merged["AU12"] == (merged["AU12_val"] >= 1)).all()     # same frame, same label
    bp = data.frame_index("bp4dplus", root=p["synth-bp4dplus"], refresh=True)
    assert bp.subject.nunique() == 140 and bp.path.str.contains(r"\.zip#").all()
    gtp = pd.read_csv(p["synth-bp4dplus"] / GT)
    merged = bp[["path", "AU12"]].dropna().merge(gtp[["path", "AU12_val"]], on="path")
    assert len(merged) == bp["AU12"].notna().sum()
    assert (merged["AU12"] == (merged["AU12_val"] >= 1)).all()
    lab = data.frame_index("emotionet", root=p["synth-emotionet"], refresh=True)
    emo_ledger = data.ledger("emotionet", root=p["synth-emotionet"])
    corrupt = emo_ledger[emo_ledger.reason == "corrupt file"].subject
    n_labelled = len(pd.read_csv(p["synth-emotionet"] / LAYOUTS["emotionet"]["label_file"]))
    assert n_labelled - len(corrupt) <= len(lab) <= n_labelled       # only corrupt files lost
    assert set(lab.list_split) == {"val", "test"}                     # ADLD lists in synthau/
    assert lab["AU51"].isna().all() and lab["AU12"].notna().mean() > 0.9
    masked = emo_ledger[emo_ledger.reason == "unknown label"]
    assert len(masked) < len(lab) / 2                  # uncoded 51-56 are not a per-frame fault
    assert len(data.frame_index("fec", root=p["synth-fec"], refresh=True)) == 60
    assert len(data.frame_index("afewva", root=p["synth-afewva"], refresh=True)) > 0
    assert len(data.frame_index("lfw", root=p["synth-faces"], refresh=True)) > 0
    assert len(data.frame_index("casia", root=p["synth-faces"] / "CASIA-WebFace", refresh=True)) > 0
    ff = data.frame_index("ffhq", root=p["synth-ffhq"], refresh=True)
    ff_corrupt = data.ledger("ffhq", root=p["synth-ffhq"]).reason.eq("corrupt file").sum()
    assert len(ff) + ff_corrupt == 50          # injected corrupt files leave at indexing


def test_deterministic_and_cached_by_fingerprint(smoke, tmp_path):
    root, paths = smoke
    a = paths["synth-afewva"]
    stamp = (a / FINGERPRINT).stat().st_mtime_ns
    assert ensure("synth-afewva", "smoke", root=root) == a
    assert (a / FINGERPRINT).stat().st_mtime_ns == stamp           # cached, not rewritten
    b = ensure("synth-afewva", "smoke", root=tmp_path)              # elsewhere: same bytes
    for rel in ("001/00000.png", "002/002.json", "landmarks_68.npz"):
        assert (a / rel).read_bytes() == (b / rel).read_bytes()
    assert pd.read_csv(a / GT).equals(pd.read_csv(b / GT))
    c = ensure("synth-afewva", "smoke", root=tmp_path, n_clips=2)    # parameters changed
    assert c == b and not (c / "003").exists() and (c / "002" / "002.json").is_file()
    (c.parent / ".synth-afewva.partial-999999").mkdir()               # a killed run's leftover
    (c / FINGERPRINT).unlink()                                      # incomplete -> rebuilt
    assert (ensure("synth-afewva", "smoke", root=tmp_path) / "003").is_dir()
    assert not list(c.parent.glob(".synth-afewva.partial-*"))
    other = ensure("synth-afewva", "smoke", root=tmp_path, seed=1)
    assert other != b and (other / "001/00000.png").read_bytes() != (b / "001/00000.png").read_bytes()


def test_refuses_to_overwrite_foreign_folders(tmp_path):
    target = dataset_dir("synth-afewva", "smoke", tmp_path)
    target.mkdir(parents=True)
    (target / "precious.txt").write_text("not synthau")
    with pytest.raises(FileExistsError, match="not a SynthAU dataset"):
        ensure("synth-afewva", "smoke", root=tmp_path)
    assert (target / "precious.txt").is_file()


def test_cli_list(smoke, capsys):
    root, _ = smoke
    assert cli(["list", "--profile", "smoke", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert out.count("current") == len(NAMES)
    assert cli(["prepare", "synth-nope", "--root", str(root)]) == 2


def test_parallel_rendering_after_the_caller_used_opencv_threads(tmp_path):
    """Regression: a notebook kernel that already ran OpenCV's thread pool, then forked the
    render workers, left them waiting forever on a lock. Run in a subprocess with a timeout."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(f"""
        import cv2, numpy as np
        from aulib.synth import render_face
        from aulib.synth.catalogue import AUS
        from aulib.synth.engine import Sequence, render_all
        cv2.setNumThreads(4)
        for i in range(3):
            render_face({{"AU12": 3}}, identity=i, size=256)
        seqs = [Sequence(key=f"s{{k}}", paths=[f"s{{k}}/{{i}}.jpg" for i in range(310)],
                         aus=np.zeros((310, len(AUS))), identity=k, domain="lab-a", size=64, seed=k)
                for k in range(2)]
        res = render_all(seqs, {str(tmp_path)!r}, workers=2)
        print("rendered", sum(len(r["landmarks"]) for r in res), cv2.getNumThreads())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "rendered 620 4" in out.stdout
