/**
 * The shutdown coordinator: {@code CoordinatorService}, a service whose handlers alone own its state,
 * runs a {@code Plan} by feeding its {@code Execution} (the run's rules: exit events, never replies, are
 * proof) and carrying out its commands over the nodes' admin APIs; {@code LocalDrain} carries out the
 * same execution on a node that drains itself alone; {@code CoordinatorHost}
 * follows every node's exit stream into it ({@code Feed}); {@code CoordinatorApi} serves {@code harbor.v1.Coordinator}.
 * Depends on the runtime's {@code service}, {@code shutdown}, {@code admin}, {@code wire}, {@code transport}, on
 * {@code plan}, and, being an extension of the node process, on its {@code security} and {@code cli}
 * ({@code NodeExtension}, {@code NodeConfig}, {@code RemoteCommand}).
 */
package dev.harbor.coordinator;
