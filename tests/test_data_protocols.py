"""Protocols: published subject parts, fold naming, leakage guard, cross-domain, subsets."""
import pandas as pd
import pytest

import aulib.data as D
from aulib.data import protocols as P


def test_published_parts_sizes_disjoint_and_complete():
    bp = P.parts("bp4d")
    assert [len(p) for p in bp] == [14, 14, 13]
    assert len(set().union(*map(set, bp))) == 41 and bp[0][0] == "F001" and bp[2][-1] == "F014"
    di = P.parts("disfa")
    assert [len(p) for p in di] == [9, 9, 9] and len(set().union(*map(set, di))) == 27
    assert di[0] == ("SN002", "SN010", "SN001", "SN026", "SN027", "SN032", "SN030", "SN009", "SN016")


def test_folds_named_by_test_part_with_codebase_aliases():
    fs = D.folds("bp4d")
    assert [f.name for f in fs] == ["test-part1", "test-part2", "test-part3"]
    assert fs[0].test == P.parts("bp4d")[0]
    assert fs[0].aliases["fgnet"] == "labels/0" and fs[0].aliases["megraph"] == "fold3"
    assert fs[2].aliases["megraph"] == "fold1"
    for f in fs:      # default validation: held-out training subjects, never test subjects
        assert f.val and not set(f.val) & set(f.test) and not set(f.val) & set(f.train)
        assert len(f.train) + len(f.val) + len(f.test) == 41
        D.check_no_leakage(f.train, f.test)
    assert D.folds("bp4d")[1].val == fs[1].val                      # seeded
    papers = D.folds("disfa", val="test")[0]
    assert papers.val == papers.test and papers.val_policy == "test"
    table = P.fold_table(fs)
    assert set(table.role) == {"train", "val", "test"} and len(table) == 3 * 41


def test_leakage_guard_raises_and_names_subjects():
    with pytest.raises(P.LeakageError, match="F001"):
        D.check_no_leakage(["F001", "F002"], ["F001", "M003"])
    f = D.folds("disfa")[0]
    with pytest.raises(P.LeakageError):
        D.check_no_leakage(f.train, D.folds("disfa")[1].test)


def test_folds_restricted_to_present_subjects_and_seeded_bp4dplus():
    f = D.folds("disfa", subjects=["SN001", "SN002", "SN013", "SN003"], val="none")
    assert f[0].test == ("SN002", "SN001") and set(f[0].train) == {"SN013", "SN003"}
    with pytest.raises(ValueError, match="not in the published"):
        D.folds("bp4d", subjects=["F001", "X999"])
    subs = [f"F{i:03d}" for i in range(1, 11)] + [f"M{i:03d}" for i in range(1, 6)]
    a, b = D.folds("bp4dplus", subjects=subs, seed=3), D.folds("bp4dplus", subjects=subs, seed=3)
    assert a == b and sorted(s for f in a for s in f.test) == sorted(subs)
    assert D.folds("bp4dplus", subjects=subs, seed=4)[0].test != a[0].test
    with pytest.raises(ValueError, match="subjects="):
        D.folds("bp4dplus")


def test_cross_domain_and_adld_split():
    cd = D.cross_domain("bp4d", "disfa", fold=3)
    assert cd.aus == ("AU1", "AU2", "AU4", "AU6", "AU12")
    assert cd.fold.val == cd.fold.test == P.parts("bp4d")[2] and len(cd.fold.train) == 28
    adld = P.adld_bp4d_split()
    assert (len(adld.train), len(adld.val), len(adld.test)) == (28, 7, 6)
    assert set(adld.val) | set(adld.test) == set(P.parts("bp4d")[2])


def test_subset_and_emotionet_split():
    idx = pd.DataFrame({"subject": [f"s{i}" for i in range(50)], "path": [f"{i}.jpg" for i in range(50)],
                        "labeled": [i < 20 for i in range(50)]})
    a, b = D.subset(idx, 10, seed=1), D.subset(idx, 10, seed=1)
    pd.testing.assert_frame_equal(a, b)
    assert len(set(a.path)) == 10 and not a.equals(D.subset(idx, 10, seed=2))
    with pytest.raises(ValueError, match="only 50"):
        D.subset(idx, 100)
    sp = P.emotionet_split(idx, n_unlabeled=12, seed=0)
    assert len(sp["train"]) == 12 and not sp["train"].labeled.any()
    assert len(sp["val"]) == len(sp["test"]) == 10 and not set(sp["val"].path) & set(sp["test"].path)
    assert P.DATA_EFFICIENCY_SIZES == (100, 1000, 5000, 10000)
