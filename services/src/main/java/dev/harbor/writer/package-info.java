/**
 * The reference database writer, an application on the runtime: {@code Writer} stores
 * {@code harbor.v1.Record}s over JDBC (H2 or PostgreSQL, see {@code Dialect}) in batches and answers
 * each caller with {@code Committed} only after the commit; it registers a global name (default
 * {@code writer}) and the ordered-exit role {@code writer}. May depend on {@code service},
 * {@code shutdown}, Micrometer (the node's registry, when its host provides one) and {@code proto}.
 */
package dev.harbor.writer;
