"""`run --profile paper` (make workbook PROFILE=paper) checks the real datasets and published files
the selected notebooks read, and stops with the report before any notebook runs."""
from aulib.workbook.__main__ import main


def test_paper_run_stops_before_training_with_the_data_report(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AULIB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("AULIB_RESULTS", str(tmp_path / "results"))
    given = tmp_path / "psp_ffhq_encode.pt"
    given.write_bytes(b"x")
    rc = main(["run", "--profile", "paper", "--only", "fgnet/01_within_domain",
               "-p", "stylegan_checkpoint=/nonexistent/stylegan2-ffhq-config-f.pt", "-p", f"psp_checkpoint={given}"])
    err = capsys.readouterr().err
    assert rc == 2
    assert f"MISSING    dataset disfa  {tmp_path / 'data' / 'DISFA'}" in err
    assert "obtain it: " in err
    assert "MISSING    stylegan_checkpoint=/nonexistent/stylegan2-ffhq-config-f.pt: no such file (expected " \
           "stylegan2-ffhq-config-f.pt" in err
    assert f"found      psp_checkpoint={given}" in err
    assert "not set    -p imagenet_resnet=<path to resnet50-0676ba61.pth>" in err
    assert "stopped before any training: 4 input(s) missing or incomplete" in err     # disfa, bp4d, ffhq, stylegan
    assert not (tmp_path / "results" / "paper").exists()                               # nothing ran
