"""Pipelines of music generation (`advlab music`): MidiNet on melody bars -- config -> melodies + players + game ->
run directory (train_music), melodies written as MIDI, piano rolls and audio (sample_music), and their statistics
against the training and held-out melodies (evaluate_music)."""
