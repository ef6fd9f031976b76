"""The pure core of the local environment's control loop: Kubernetes' decisions over plain state and `now`.

No thread, process, socket or clock in here: every function is given the state and the time and
returns what to do (`actions.Effect`s) — the controller (localenv/controller.py) carries them out
through the runtime (localenv/runtime). Each module mirrors its Kubernetes counterpart:

- deployment_util.py — pkg/controller/deployment/util/deployment_util.go (fenceposts, NewRSNewReplicas,
  DeploymentComplete / Progressing / TimedOut);
- rolling.py — pkg/controller/deployment/rolling.go (reconcileNewReplicaSet, reconcileOldReplicaSets,
  cleanupUnhealthyReplicas, scaleDownOldReplicaSetsForRollingUpdate);
- progress.py — pkg/controller/deployment/progress.go (syncRolloutStatus);
- replica_set.py — pkg/controller/replicaset (manageReplicas, getPodsToDelete's ActivePods order);
- endpoints.py — the endpoints controller (ready and not terminating);
- kubelet.py — pkg/kubelet/prober/worker.go and kuberuntime killContainer (preStop → SIGTERM → SIGKILL);
- backoff.py — client-go flowcontrol.Backoff as the kubelet's crash-loop back-off;
- cluster.py — one sync in Kubernetes' order, `apply`, and the outcomes of effects;
- objects.py, events.py, status.py, actions.py — the typed state, events, `status` and effects.
"""
