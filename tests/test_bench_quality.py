"""bench/quality.py runs end to end on a few digits (its real run takes hours: see bench/RESULTS.md)."""
import pathlib
import runpy
import sys

QUALITY = pathlib.Path(__file__).resolve().parents[1] / "bench" / "quality.py"


def test_quality_script_prints_a_row_per_loss_and_the_cgan_accuracy(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("MINIGAN_DATA", str(tmp_path / "no-data"))  # offline: the embedded sample
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(sys, "argv", ["quality.py", "--epochs", "1", "--seeds", "1", "--limit", "128",
                                      "--losses", "non-saturating", "hinge", "--cgan", "--cgan-epochs", "1"])
    import minigan.data
    monkeypatch.setattr(minigan.data.MNIST, "mirrors", ("http://127.0.0.1:9/",))
    runpy.run_path(str(QUALITY), run_name="__main__")
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| non-saturating") or line.startswith("| hinge")]
    assert len(rows) == 2 and all(line.endswith("0 of 1 |") for line in rows)
    assert "cGAN: digits classified as the requested label:" in out
