"""Every phase of a run is named on the progress bar: running, healing,
final reads, fsck (the controller), judging, reports (``run``)."""

from __future__ import annotations

from nemesis import runner as run_cmd
from nemesis.runner import build_config


def test_every_phase_is_named_in_order(tmp_path, monkeypatch):
    seen: list[str] = []

    def fake_progress(err, cfg, quiet):
        def cb(p):
            if not seen or seen[-1] != p.get("phase"):
                seen.append(p.get("phase"))
        return cb, lambda: None

    monkeypatch.setattr(run_cmd, "_progress", fake_progress)
    cfg = build_config("append", "kill", 1, 1.5, 2, 0, None, False)
    code = run_cmd.execute(cfg, str(tmp_path), quiet=False, reports=True)
    assert code == 0
    assert seen == ["running", "healing", "final reads", "fsck", "judging", "reports"], seen
