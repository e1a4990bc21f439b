"""Audio adversarial examples (Carlini & Wagner 2018): the dB measure, playback simulation, attacks."""

from advlab.audio.cw import AudioCW
from advlab.audio.decibels import amplitude_bound, check_db_bound, decibels, relative_decibels
from advlab.audio.pgd import AudioPGD
from advlab.audio.results import AudioAttackResult
from advlab.audio.room import Room, RoomSimulation

__all__ = ["AudioAttackResult", "AudioCW", "AudioPGD", "Room", "RoomSimulation", "amplitude_bound",
           "check_db_bound", "decibels", "relative_decibels"]
