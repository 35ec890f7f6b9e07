"""The local lab: the controller run against an AWS emulator and a real (or computed) NAT data plane.

- ``session.py`` (one lab session), ``config.py`` (any hanat config made safe for the lab), ``cli.py``
  (``hanat lab``: registered by controller/cli.py; the lab imports nothing from controller), ``demo.py``;
- ``aws/``: the AWS emulation (moto server, Lambda Invoke endpoint, EventBridge, alarms, alerts, a
  foreign VPC, the lab's adapters, ``chalice deploy`` against the emulator, the heartbeat's schedule);
- ``dataplane/``: the interface (``base.py``), the computed plane, the namespaces plane (``netns/``) and
  what both share;
- ``drills/``: the runner, the scenarios, what a drill measured (report, connections), summary and plot;
- ``timeline.py``: the events every part writes and the drills measure.
"""
