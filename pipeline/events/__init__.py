"""Zones and their events: the share of each class inside a polygon, turned into start/update/end.

``zones`` checks the configured polygons and draws each as a mask at the frame size; ``tracker``
is the hysteresis of one zone and class; ``monitor`` runs them over the results of a run;
``hub`` fans the events out to listeners (the publishers in ``publisher``, ``mqtt`` and
``webhook``, the JSONL sink, a host's own function); ``event`` is the event itself. The sink that
feeds them all is ``pipeline.sinks.events.ZoneEventSink``.
"""

from pipeline.events.event import ZoneEvent
from pipeline.events.hub import EventHub

__all__ = ["EventHub", "ZoneEvent"]
