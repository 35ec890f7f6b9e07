"""hanat controller library: everything the Lambda functions need (shipped by Chalice).

How one scheduled failover runs, file by file (eight files, each named once):

1. ``app.py`` — ``heartbeat`` is the EventBridge ``rate(1 minute)`` function. It builds its
   dependencies and runs the heartbeat loop on the invocation's remaining time (the Lambda context),
   passing the replacement pass to run after each sweep.
2. ``chalicelib/wiring.py`` — ``build_deps`` reads the Lambda environment, the topology parameter from
   SSM, and makes the boto3 clients, the probe runner (one Lambda invoke per zone) and the SNS alert sink.
3. ``chalicelib/service/sweep.py`` — ``run_heartbeat`` takes the sweeper lease and sweeps every
   ``probe.interval_s`` while a sweep fits, every AWS call bounded by ``Deps.deadline``; ``sweep_once``
   probes every zone at once (``service/probing.py``: a failed zone is re-probed right away, and a probe
   unanswered after half its timeout has its confirmation started alongside), then hands the results
   to reconcile.
4. ``chalicelib/aws/lambda_invoke.py`` — ``LambdaProbeRunner`` invokes every zone's ``probe_<zone>``
   function in parallel (the probe runs in the zone's probe subnet, whose only way out is that NAT)
   and turns each answer into a ``ProbeResult``; a Lambda error is "no evidence", never a failed probe.
5. ``chalicelib/service/reconcile.py`` — ``decide_and_apply``: observe the zones (records, instance
   states, route tables), decide with ``engine_decider``, claim the moving zones in one versioned
   transaction, write the routes (never late for the claim), verify, release; ``publish`` sends the
   alerts and metrics.
6. ``chalicelib/engine/decide.py`` — ``decide`` (pure, clock passed in): the failed probes push the
   zone's NAT to DOWN after ``fail_after`` (results without evidence count for nothing; ``blind``); placement picks the healthy NAT serving the fewest zones;
   the result is a ``Decision`` with a failover ``RouteMove`` and its alert.
7. ``chalicelib/aws/state_table.py`` — ``commit`` writes the new zone states and the route-write claim
   in one DynamoDB ``TransactWriteItems`` conditioned on the versions read (a concurrent run loses).
8. ``chalicelib/aws/routes.py`` — ``point_default_route`` refuses a table without the stack tag (or
   pinned), calls ``ReplaceRoute`` for ``0.0.0.0/0`` to the healthy NAT's ENI and reads it back.

Around that path: ``engine/`` (zone state, decision types, operator decisions, the maintenance window),
``replacement/`` (the pure replacement and roll machines, drift) with their use-cases in
``service/replacement*.py`` and ``service/roll.py`` (run after each sweep), ``service/events.py``
(EC2 state-change events), ``service/operations.py`` (the ``operate`` function and the CLI),
``probes/`` (the probe functions' checks), the other adapters in ``aws/``, and shared names and data
(``topology.py``, ``settings.py``, ``alerts.py``, ``naming.py``, ``errors.py``), and ``watch.py``: the
CloudWatch alarms and dashboard that watch the controller itself.
"""
