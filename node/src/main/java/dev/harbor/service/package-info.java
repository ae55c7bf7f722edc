/**
 * The runtime core: a {@code Node} hosts services, routes their messages, keeps their names and ends
 * them; {@code ServiceCell} runs one service's handlers one at a time on virtual threads. The service
 * API ({@code Service}, {@code ServiceContext}, {@code Message}, {@code Handle}) is what applications
 * use; {@code Remote} is what a cluster transport implements. Every service ends with exactly one exit event.
 * May depend on {@code dev.harbor.exit} only (which depends back on it: see ARCHITECTURE.md).
 */
package dev.harbor.service;
