from foley import diagnose


def test_diagnose_refuses_a_run_folder_without_a_tuned_student(tmp_path, capsys):
    (tmp_path / "config.json").write_text("{}")
    assert diagnose.main(["guidance", "--run", str(tmp_path)]) == 2
    assert "has no sampling.json" in capsys.readouterr().err


def test_sweep_names_a_malformed_guidance_form(tmp_path, capsys):
    for name in ("config.json", "distill.pt", "align_clf.pt"):
        (tmp_path / name).write_text("{}")
    assert diagnose.main(["sweep", "32,3", "--run", str(tmp_path)]) == 2
    assert "'32,3' is not W,γ,T or W,γ,T,R,RT" in capsys.readouterr().err
    assert diagnose.main(["sweep", "--run", str(tmp_path), "32,3,600,-1,800"]) == 2
    assert "R must be >= 0 and RT in 0..999" in capsys.readouterr().err
    assert diagnose.main(["sweep", "--run", str(tmp_path), "32,3,1200"]) == 2  # forms after options too
    assert "T in 0..999" in capsys.readouterr().err
    assert diagnose.main(["sweep", "--run", str(tmp_path)]) == 2
    assert "at least one guidance form" in capsys.readouterr().err


def test_parse_form_reads_window_scale_and_last_timestep():
    assert diagnose.parse_form("0,0,999") == (0, 0.0, 999, 0, 999)
    assert diagnose.parse_form("32,3,600") == (32, 3.0, 600, 0, 999)
    assert diagnose.parse_form("32,3,600,2,800") == (32, 3.0, 600, 2, 800)
