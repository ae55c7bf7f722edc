/**
 * Exit events: {@code ExitEvent} and {@code ExitReason}, the node's {@code ExitLog} (numbers events
 * 1, 2, 3... per life without gaps, retains the newest, hands each to its listeners in order under one
 * lock), and {@code Monitor}, the one service per node that receives every exit event and answers watches.
 * May depend on {@code dev.harbor.service} only (a cycle with it today: see ARCHITECTURE.md).
 */
package dev.harbor.exit;
