"""Background work as QgsTask: errors in one line, results applied on the main thread."""





def test_work_task_reports_errors_in_one_line_and_never_raises(qgis_app):
    from terralens.plugin.gui.tasks import WorkTask

    def bad_input(control):
        raise ValueError("tile size must be at least 8 pixels, got 2")

    def bug(control):
        return {}["missing"]

    errors = []
    for work in (bad_input, bug):
        task = WorkTask("test", work, errors.append)
        assert task.run() is False  # called directly: no task manager needed
        task.finished(False)
    assert errors[0] == "tile size must be at least 8 pixels, got 2"
    assert errors[1].startswith("KeyError: 'missing'") and "log" in errors[1]
    applied = []
    task = WorkTask("test", lambda control: lambda: applied.append(1), errors.append)
    assert task.run() is True
    task.finished(True)
    assert applied == [1] and len(errors) == 2
