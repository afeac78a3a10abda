from foley import diagnose


def test_diagnose_refuses_a_run_folder_without_a_tuned_student(tmp_path, capsys):
    (tmp_path / "config.json").write_text("{}")
    assert diagnose.main(["guidance", "--run", str(tmp_path)]) == 2
    assert "has no sampling.json" in capsys.readouterr().err
