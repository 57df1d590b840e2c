"""The window's controllers: each joins the player and its panels to a service.

`app.main_window.MainWindow` builds them and hands each one the window through a narrow door:
a `typing.Protocol` (`RecognitionWindow`, `LabellingWindow`, `FineTuneWindow`) that names the
widgets and calls it uses, nothing more. Nothing here imports the window.

- recognition.py, live.py, analysis.py, recognition_export.py: the model, live answers and the
  overlay, the analysis of a whole video, exports and the session summary;
- labelling.py, label_project.py, label_videos.py, label_transfer.py: label projects, marking
  segments, undo, moved videos, data-set export and import;
- finetune.py, finetune_runs.py, finetune_choices.py: the Train menu, the fine-tune dialog
  and its runs, recent runs, the choices it remembers;
- jobs.py: the one way a job runs off the GUI thread with a progress dialog and Cancel.
"""
