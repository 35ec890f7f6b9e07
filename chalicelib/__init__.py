"""hanat controller library: everything the Lambda functions need (shipped by Chalice).

The map (layers, the failover path file by file, the replacement and roll machines, a glossary) is
``docs/architecture.md``; ``tests/integration/test_failover_path.py`` traces the path it narrates (10
files, none entered more than 3 times). In short, one scheduled failover runs: ``app.py`` ``heartbeat`` ->
``wiring.py`` (the handler's wrapper) -> ``service/heartbeat.py`` (loop; the lease, ``aws/claims.py``) ->
``service/sweep.py`` (one sweep) -> ``service/probing.py`` (every zone probed at once, a failure confirmed
at once; then the world read in one batch, ``aws/observe.py``) -> ``service/reconcile.py`` (observe ->
decide and review with the pure ``engine/decide.py`` -> claim, write and verify in one adapter entry,
``aws/claims.py`` ``move``: one conditioned transaction, then ``ReplaceRoute``, every AWS call through
the one retry layer ``aws/calls.py``) -> ``service/publish.py`` (alerts, metrics) ->
``service/maintenance.py`` (what follows a sweep: replacement, roll, closing expired handoffs).

Layers: ``engine/`` and ``replacement/`` are pure (no boto3, clock passed in); ``aws/`` holds the only
boto3 callers, one concern per file; ``service/`` the use-cases; ``wiring.py`` the Lambda's own
assembly (imported by ``app.py`` alone); shared data and names in ``topology.py``, ``settings.py``,
``alerts.py``, ``naming.py``, ``errors.py``, ``observability.py``, ``monitoring.py`` (the CloudWatch
alarms and dashboard on the controller) and ``slack.py``.
"""
