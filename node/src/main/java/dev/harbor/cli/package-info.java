/**
 * The node process and the {@code harbor} command line: {@code NodeProcess} builds a {@code Node}, its
 * {@code Harbor} transport, its admin API, health, metrics and the {@code NodeExtension}s found with
 * {@code ServiceLoader} into one gRPC server; {@code NodeConfig} reads the settings; {@code Main} and the
 * commands are the CLI. The composition root of the node module: it may depend on every package of it.
 */
package dev.harbor.cli;
