/**
 * Security for every gRPC endpoint and channel of a node and the command line: {@code Tls} (plaintext,
 * TLS, mutual TLS from PEM files), {@code BearerAuth} (the cluster token, compared in constant time,
 * never logged) and {@code MalformedRequests} ({@code INVALID_ARGUMENT} for requests that do not parse).
 * Depends on gRPC, protobuf and the JDK only: on no other Harbor package.
 */
package dev.harbor.security;
