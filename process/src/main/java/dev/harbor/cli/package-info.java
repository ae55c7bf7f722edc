/**
 * The node process and the {@code harbor} command line: {@code NodeProcess} builds a {@code Node}, its
 * {@code Harbor} transport, its admin API, health, metrics and the {@code NodeExtension}s found with
 * {@code ServiceLoader} into one gRPC server; {@code NodeConfig} reads the settings; {@code Main} and the
 * commands are the CLI. The composition root of the node process: it may depend on every package of the
 * runtime (module {@code node}) and of its own module ({@code process}), and finds the rest (the
 * coordinator, the reference services, the user's services) on the class path at run time.
 */
package dev.harbor.cli;
