"""Device-side agent: counts people in camera streams on an OpenVINO detector and reports over MQTT.

Nothing here imports torch or `pruning`; the model store (`models`) is the only thing shared with the host.
"""

__version__ = "0.1.0"
