package dev.harbor.cli;

import dev.harbor.transport.Harbor;
import dev.harbor.security.Tls;
import dev.harbor.service.Handle;
import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The settings of a node process: one Java properties file, every key of which an environment
 * variable may override ({@code HARBOR_} + the key in upper case, dots and dashes turned into
 * underscores: {@code node.id} is {@code HARBOR_NODE_ID}). Environment variables that name no key
 * are ignored (the environment is shared with other tools); unknown keys in the file are errors.
 *
 * <table>
 *   <caption>Keys</caption>
 *   <tr><th>key</th><th>meaning</th><th>default</th></tr>
 *   <tr><td>{@code node.id}</td><td>the node's id, 1-65535, unique in the cluster</td><td>required</td></tr>
 *   <tr><td>{@code node.listen}</td><td>host:port the node's gRPC server binds (port 0: a free port between 20000 and 31999, see {@link FreePorts})</td><td>{@code 0.0.0.0:7700}</td></tr>
 *   <tr><td>{@code node.advertise}</td><td>host:port other nodes and tools reach it at</td><td>the listen address, with
 *       {@code 127.0.0.1} for a wildcard host</td></tr>
 *   <tr><td>{@code cluster.name}</td><td>the cluster's name; nodes of other clusters are refused</td><td>{@code harbor}</td></tr>
 *   <tr><td>{@code cluster.peers}</td><td>comma-separated host:port of the nodes (may include this one)</td><td>none</td></tr>
 *   <tr><td>{@code cluster.dns}</td><td>name:port that resolves to every node's address</td><td>none</td></tr>
 *   <tr><td>{@code harbor.heartbeat-ms}</td><td>heartbeat interval between linked nodes</td><td>500</td></tr>
 *   <tr><td>{@code harbor.loss-timeout-ms}</td><td>silence after which a node is lost (at least twice the heartbeat)</td><td>2000</td></tr>
 *   <tr><td>{@code exit.retention}</td><td>exit events kept for subscribers that reconnect</td><td>65536</td></tr>
 *   <tr><td>{@code services}</td><td>comma-separated service classes to launch at start, in order, each optionally with
 *       string arguments: {@code com.example.Db, com.example.Gateway(0.0.0.0;9000)}</td><td>none</td></tr>
 *   <tr><td>{@code metrics.listen}</td><td>host:port of the Prometheus endpoint ({@code GET /metrics}; port 0: a free
 *       port)</td><td>none: no metrics served</td></tr>
 *   <tr><td>{@code tls.cert}, {@code tls.key}</td><td>PEM certificate chain and PKCS#8 key the node presents as server
 *       and as client; set both to turn TLS on for every connection (links, admin and coordinator APIs)</td><td>none:
 *       plaintext</td></tr>
 *   <tr><td>{@code tls.ca}</td><td>PEM CA certificates that peers' and clients' certificates must chain to</td><td>none</td></tr>
 *   <tr><td>{@code tls.client-auth}</td><td>{@code require} (mutual TLS), {@code optional} or {@code none}</td><td>{@code
 *       require} if {@code tls.ca} is set, else {@code none}</td></tr>
 *   <tr><td>{@code coordinator.token-file}, {@code coordinator.token}</td><td>the cluster's bearer token (a file holding it,
 *       or the token itself, best from {@code HARBOR_COORDINATOR_TOKEN}): required by the coordinator's API, by
 *       this node's {@code Kill}, {@code KillMany}, {@code Stop}, {@code Abort} and {@code Cordon}, and by the links
 *       from other nodes (its own links carry it)</td><td>none: those are open (logged as a warning)</td></tr>
 *   <tr><td>{@code limits.max-message-bytes}</td><td>largest gRPC message the node accepts (a request, a batch of
 *       envelopes); larger ones fail with {@code RESOURCE_EXHAUSTED}</td><td>4194304</td></tr>
 *   <tr><td>{@code limits.max-streams}</td><td>concurrent calls (streams) one connection may open</td><td>1000</td></tr>
 *   <tr><td>{@code limits.max-exit-streams}</td><td>exit streams ({@code WatchExits}) the node serves at once; more are
 *       refused with {@code RESOURCE_EXHAUSTED}</td><td>1024</td></tr>
 * </table>
 *
 * @param nodeId the node's id
 * @param listen the address the server binds
 * @param advertise the address peers use; its port is 0 only when the listen port is 0 (the bound port is used)
 * @param clusterName the cluster's name
 * @param peers peer addresses, possibly empty
 * @param dns a name:port resolving to the nodes, or null
 * @param heartbeat heartbeat interval
 * @param lossTimeout silence after which a peer is lost
 * @param onLost what the node does when its cluster declared its life lost ({@code membership.on-lost})
 * @param exitRetention exit events retained
 * @param extensionSettings the set keys of the {@linkplain NodeExtension extensions} on the class path
 * @param services services to launch at start, in order
 * @param metricsListen where to serve {@code /metrics}, or null for nowhere
 * @param tls TLS for the server and every channel ({@link Tls#PLAINTEXT} if off)
 * @param token the cluster's bearer token, or null if none is configured; never printed
 * @param limits sizes and counts the node's server accepts
 */
public record NodeConfig(int nodeId, Address listen, Address advertise, String clusterName, List<String> peers, String dns,
        Duration heartbeat, Duration lossTimeout, Harbor.LostPolicy onLost, int exitRetention, List<ServiceSpec> services, Address metricsListen, Tls tls,
        String token, Limits limits, Map<String, String> extensionSettings) {

    public static final String NODE_ID = "node.id";
    public static final String NODE_LISTEN = "node.listen";
    public static final String NODE_ADVERTISE = "node.advertise";
    public static final String CLUSTER_NAME = "cluster.name";
    public static final String CLUSTER_PEERS = "cluster.peers";
    public static final String CLUSTER_DNS = "cluster.dns";
    public static final String HEARTBEAT_MS = "harbor.heartbeat-ms";
    public static final String LOSS_TIMEOUT_MS = "harbor.loss-timeout-ms";
    public static final String ON_LOST = "membership.on-lost";
    public static final String EXIT_RETENTION = "exit.retention";
    public static final String SERVICES = "services";
    public static final String METRICS_LISTEN = "metrics.listen";
    public static final String TLS_CERT = "tls.cert";
    public static final String TLS_KEY = "tls.key";
    public static final String TLS_CA = "tls.ca";
    public static final String TLS_CLIENT_AUTH = "tls.client-auth";
    public static final String TOKEN = "coordinator.token";
    public static final String TOKEN_FILE = "coordinator.token-file";
    public static final String MAX_MESSAGE_BYTES = "limits.max-message-bytes";
    public static final String MAX_STREAMS = "limits.max-streams";
    public static final String MAX_EXIT_STREAMS = "limits.max-exit-streams";

    /** Every key, in the order they are documented. */
    public static final List<String> KEYS = List.of(NODE_ID, NODE_LISTEN, NODE_ADVERTISE, CLUSTER_NAME, CLUSTER_PEERS,
            CLUSTER_DNS, HEARTBEAT_MS, LOSS_TIMEOUT_MS, ON_LOST, EXIT_RETENTION, SERVICES, METRICS_LISTEN, TLS_CERT, TLS_KEY, TLS_CA,
            TLS_CLIENT_AUTH, TOKEN, TOKEN_FILE, MAX_MESSAGE_BYTES, MAX_STREAMS, MAX_EXIT_STREAMS);

    /** One line per key of {@link #KEYS}, for {@code harbor node --help}: what it sets and its default. */
    public static final Map<String, String> KEY_HELP = keyHelp();

    private static Map<String, String> keyHelp() {
        Map<String, String> h = new java.util.LinkedHashMap<>();
        h.put(NODE_ID, "the node's id, 1-65535, unique in the cluster (required)");
        h.put(NODE_LISTEN, "host:port the gRPC server binds, port 0 for a free one (default 0.0.0.0:7700)");
        h.put(NODE_ADVERTISE, "host:port other nodes and tools reach it at (default: the listen address, 127.0.0.1 for a wildcard)");
        h.put(CLUSTER_NAME, "the cluster's name; nodes of other clusters are refused (default harbor)");
        h.put(CLUSTER_PEERS, "comma-separated host:port of the nodes, may include this one");
        h.put(CLUSTER_DNS, "name:port resolving to every node's address (a headless Service)");
        h.put(HEARTBEAT_MS, "heartbeat interval between linked nodes (default 500)");
        h.put(LOSS_TIMEOUT_MS, "silence after which a node is lost, at least twice the heartbeat (default 2000)");
        h.put(ON_LOST, "what the node does when its cluster declared its life lost: rejoin (a new life in the process) or"
                + " exit (code 3, for an orchestrator to restart it) (default rejoin)");
        h.put(EXIT_RETENTION, "exit events kept for subscribers that reconnect (default 65536)");
        h.put(SERVICES, "service classes to launch at start, in order, with optional arguments:"
                + " com.example.Db, com.example.Cache(64;lru); their jars: --classpath");
        h.put(METRICS_LISTEN, "host:port of the Prometheus endpoint GET /metrics (default: none)");
        h.put(TLS_CERT, "PEM certificate chain the node presents; with tls.key turns TLS on for every connection");
        h.put(TLS_KEY, "PKCS#8 PEM key of tls.cert");
        h.put(TLS_CA, "PEM CA certificates peers' and clients' certificates must chain to");
        h.put(TLS_CLIENT_AUTH, "require (mutual TLS), optional or none (default: require with tls.ca, else none)");
        h.put(TOKEN, "the cluster's bearer token itself (best from HARBOR_COORDINATOR_TOKEN)");
        h.put(TOKEN_FILE, "a file holding the cluster's bearer token, needed by Kill, KillMany, Stop, Abort, Cordon, the coordinator"
                + " and the links between nodes");
        h.put(MAX_MESSAGE_BYTES, "largest gRPC message accepted (default 4194304)");
        h.put(MAX_STREAMS, "concurrent calls one connection may open (default 1000)");
        h.put(MAX_EXIT_STREAMS, "WatchExits streams served at once (default 1024)");
        // Every key of KEYS must have its line here (MainTest checks it); a missing one is listed without help.
        return java.util.Collections.unmodifiableMap(h);
    }

    private static final Pattern SERVICE = Pattern.compile("([\\p{javaJavaIdentifierStart}][\\p{javaJavaIdentifierPart}.$]*)"
            + "\\s*(?:\\((.*)\\))?", Pattern.DOTALL);

    public NodeConfig {
        peers = List.copyOf(peers);
        services = List.copyOf(services);
        extensionSettings = Map.copyOf(extensionSettings);
    }

    /**
     * A host and port.
     *
     * @param host a name, an IPv4 address, or an IPv6 address without brackets
     * @param port 0-65535
     */
    public record Address(String host, int port) {
        /** Whether the host is a wildcard (every interface). */
        public boolean isWildcard() {
            return host.equals("0.0.0.0") || host.equals("::") || host.equals("*");
        }

        /** The same host with another port. */
        public Address withPort(int newPort) {
            return new Address(host, newPort);
        }

        @Override
        public String toString() {
            return (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
        }
    }

    /**
     * A service to launch at start.
     *
     * @param className its class (a {@code dev.harbor.service.Service} with a public constructor taking {@code args.size()} strings)
     * @param args its constructor's arguments
     */
    public record ServiceSpec(String className, List<String> args) {
        public ServiceSpec {
            args = List.copyOf(args);
        }

        @Override
        public String toString() {
            return args.isEmpty() ? className : className + "(" + String.join(";", args) + ")";
        }
    }

    /**
     * What the node's server accepts.
     *
     * @param maxMessageBytes the largest gRPC message
     * @param maxStreams concurrent calls on one connection
     * @param maxExitStreams exit streams ({@code WatchExits}) served at once, over all connections
     */
    public record Limits(int maxMessageBytes, int maxStreams, int maxExitStreams) {
    }

    /** A setting that is missing, unknown or malformed; the message names the key and what is expected. */
    public static final class InvalidConfigException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        public InvalidConfigException(String message) {
            super(message);
        }
    }

    /** The environment variable that overrides {@code key}. */
    public static String envName(String key) {
        return "HARBOR_" + key.toUpperCase(Locale.ROOT).replace('.', '_').replace('-', '_');
    }

    /**
     * Reads the settings from {@code file} (if not null) and the environment.
     *
     * @throws InvalidConfigException if the file cannot be read, or a setting is unknown, missing or malformed
     */
    public static NodeConfig load(Path file, Map<String, String> env) {
        Map<String, Setting> settings = new LinkedHashMap<>();
        if (file != null) {
            Properties props = new Properties();
            try (Reader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
                props.load(in);
            } catch (IOException e) {
                throw new InvalidConfigException("cannot read the config file " + file + ": " + e.getMessage());
            } catch (IllegalArgumentException e) {
                throw new InvalidConfigException("the config file " + file + " is not a properties file: " + e.getMessage());
            }
            List<String> known = allKeys();
            for (String key : props.stringPropertyNames()) {
                String k = key.strip();
                if (!known.contains(k)) {
                    throw new InvalidConfigException("unknown setting '" + k + "' in " + file + ": the settings are "
                            + String.join(", ", known));
                }
                settings.put(k, new Setting(props.getProperty(key).strip(), k + " in " + file));
            }
        }
        for (String key : allKeys()) {
            String value = env.get(envName(key));
            if (value != null) {
                settings.put(key, new Setting(value.strip(), envName(key)));
            }
        }
        NodeConfig parsed = parse(settings);
        Map<String, String> extra = new LinkedHashMap<>();
        settings.forEach((k, v) -> {
            if (!KEYS.contains(k)) {
                extra.put(k, v.value());
            }
        });
        return parsed.withExtensionSettings(extra);
    }

    /**
     * Every key with its one-line help: the node's, then those of the {@linkplain NodeExtension extensions}
     * on the class path.
     */
    public static Map<String, String> allKeyHelp() {
        Map<String, String> all = new java.util.LinkedHashMap<>();
        for (String k : KEYS) {
            all.put(k, KEY_HELP.getOrDefault(k, ""));
        }
        for (NodeExtension e : NodeExtension.installed()) {
            for (String k : e.keys()) {
                all.put(k, e.keyHelp().getOrDefault(k, ""));
            }
        }
        return all;
    }

    /** The node's keys and those of the {@linkplain NodeExtension extensions} on the class path. */
    static List<String> allKeys() {
        List<String> all = new java.util.ArrayList<>(KEYS);
        for (NodeExtension e : NodeExtension.installed()) {
            all.addAll(e.keys());
        }
        return List.copyOf(all);
    }

    private NodeConfig withExtensionSettings(Map<String, String> extra) {
        return new NodeConfig(nodeId, listen, advertise, clusterName, peers, dns, heartbeat, lossTimeout, onLost, exitRetention,
                services, metricsListen, tls, token, limits, extra);
    }

    private record Setting(String value, String source) {
    }

    private static NodeConfig parse(Map<String, Setting> s) {
        Setting idSetting = s.get(NODE_ID);
        if (idSetting == null || idSetting.value().isEmpty()) {
            throw new InvalidConfigException(NODE_ID + " is required: set it in the config file or " + envName(NODE_ID)
                    + " (a number 1-" + Handle.MAX_NODE + ", unique in the cluster)");
        }
        int id = integer(s, NODE_ID, 1, Handle.MAX_NODE, 0);
        Address listen = address(s, NODE_LISTEN, "0.0.0.0:7700", true);
        Address advertise;
        if (present(s, NODE_ADVERTISE)) {
            advertise = address(s, NODE_ADVERTISE, null, false);
        } else {
            advertise = listen.isWildcard() ? new Address("127.0.0.1", listen.port()) : listen;
        }
        String cluster = present(s, CLUSTER_NAME) ? s.get(CLUSTER_NAME).value() : "harbor";
        List<String> peers = new ArrayList<>();
        if (present(s, CLUSTER_PEERS)) {
            for (String p : s.get(CLUSTER_PEERS).value().split(",")) {
                if (!p.isBlank()) {
                    peers.add(hostPort(p.strip(), CLUSTER_PEERS, s.get(CLUSTER_PEERS), false).toString());
                }
            }
        }
        String dns = present(s, CLUSTER_DNS) ? address(s, CLUSTER_DNS, null, false).toString() : null;
        int heartbeat = integer(s, HEARTBEAT_MS, 1, Integer.MAX_VALUE, 500);
        int loss = integer(s, LOSS_TIMEOUT_MS, 1, Integer.MAX_VALUE, 2000);
        if (loss < 2L * heartbeat) {
            throw new InvalidConfigException(LOSS_TIMEOUT_MS + " (" + loss + ") must be at least twice " + HEARTBEAT_MS + " ("
                    + heartbeat + "), or a node would be declared lost between two heartbeats");
        }
        Harbor.LostPolicy onLost = Harbor.LostPolicy.REJOIN;
        if (present(s, ON_LOST)) {
            String v = s.get(ON_LOST).value().strip().toLowerCase(java.util.Locale.ROOT);
            switch (v) {
                case "rejoin" -> onLost = Harbor.LostPolicy.REJOIN;
                case "exit" -> onLost = Harbor.LostPolicy.EXIT;
                default -> throw new InvalidConfigException(ON_LOST + " is '" + s.get(ON_LOST).value() + "' (from "
                        + s.get(ON_LOST).source() + "): use rejoin (start a new life in the process, the default) or exit"
                        + " (exit with code 3 so an orchestrator restarts the node)");
            }
        }
        int retention = integer(s, EXIT_RETENTION, 1, Integer.MAX_VALUE, 65_536);
        List<ServiceSpec> services = present(s, SERVICES) ? services(s.get(SERVICES)) : List.of();
        Address metrics = present(s, METRICS_LISTEN) ? address(s, METRICS_LISTEN, null, true) : null;
        Limits limits = new Limits(integer(s, MAX_MESSAGE_BYTES, 1024, Integer.MAX_VALUE, 4 * 1024 * 1024),
                integer(s, MAX_STREAMS, 1, Integer.MAX_VALUE, 1000),
                integer(s, MAX_EXIT_STREAMS, 1, Integer.MAX_VALUE, dev.harbor.admin.NodeAdminService.DEFAULT_MAX_STREAMS));
        return new NodeConfig(id, listen, advertise, cluster, peers, dns, Duration.ofMillis(heartbeat), Duration.ofMillis(loss), onLost,
                retention, services, metrics, tls(s), token(s), limits, Map.of());
    }

    private static Tls tls(Map<String, Setting> s) {
        Path cert = present(s, TLS_CERT) ? Path.of(s.get(TLS_CERT).value()) : null;
        Path key = present(s, TLS_KEY) ? Path.of(s.get(TLS_KEY).value()) : null;
        Path ca = present(s, TLS_CA) ? Path.of(s.get(TLS_CA).value()) : null;
        try {
            Tls.ClientAuth auth = present(s, TLS_CLIENT_AUTH) ? Tls.ClientAuth.parse(s.get(TLS_CLIENT_AUTH).value())
                    : ca != null ? Tls.ClientAuth.REQUIRE : Tls.ClientAuth.NONE;
            return new Tls(cert, key, ca, auth).checked();
        } catch (IllegalArgumentException e) {
            throw new InvalidConfigException(e.getMessage());
        }
    }

    /** The token from the file or the setting itself; null if neither is set. */
    private static String token(Map<String, Setting> s) {
        String token = null;
        if (present(s, TOKEN_FILE)) {
            Setting file = s.get(TOKEN_FILE);
            try {
                token = Files.readString(Path.of(file.value()), StandardCharsets.UTF_8).strip();
            } catch (IOException e) {
                throw new InvalidConfigException(TOKEN_FILE + ": cannot read " + file.value() + " (from " + file.source() + "): "
                        + e.getMessage() + ". Give a file this process may read, holding the cluster's token");
            }
            if (token.isEmpty()) {
                throw new InvalidConfigException(TOKEN_FILE + ": " + file.value() + " is empty: put the cluster's token in it");
            }
        } else if (present(s, TOKEN)) {
            token = s.get(TOKEN).value();
        }
        return token;
    }

    private static boolean present(Map<String, Setting> s, String key) {
        Setting v = s.get(key);
        return v != null && !v.value().isEmpty();
    }

    private static int integer(Map<String, Setting> s, String key, int min, int max, int dflt) {
        if (!present(s, key)) {
            return dflt;
        }
        Setting v = s.get(key);
        try {
            int n = Integer.parseInt(v.value());
            if (n >= min && n <= max) {
                return n;
            }
        } catch (NumberFormatException e) {
            // not a number: reported below, with what is expected
        }
        throw new InvalidConfigException(key + ": expected a whole number " + (max == Integer.MAX_VALUE ? min + " or more"
                : "from " + min + " to " + max) + ", got '" + v.value() + "' (from " + v.source() + ")");
    }

    private static Address address(Map<String, Setting> s, String key, String dflt, boolean portZeroAllowed) {
        if (!present(s, key)) {
            return hostPort(dflt, key, null, portZeroAllowed);
        }
        return hostPort(s.get(key).value(), key, s.get(key), portZeroAllowed);
    }

    private static Address hostPort(String text, String key, Setting from, boolean portZeroAllowed) {
        String expected = key + ": expected host:port" + (portZeroAllowed ? " (port 0 picks a free port)" : "") + ", got '" + text
                + "'" + (from == null ? "" : " (from " + from.source() + ")");
        int colon = text.lastIndexOf(':');
        if (colon <= 0 || colon == text.length() - 1) {
            throw new InvalidConfigException(expected);
        }
        String host = text.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        if (host.isBlank() || host.chars().anyMatch(Character::isWhitespace)) {
            throw new InvalidConfigException(expected);
        }
        int port;
        try {
            port = Integer.parseInt(text.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new InvalidConfigException(expected);
        }
        if (port < (portZeroAllowed ? 0 : 1) || port > 65535) {
            throw new InvalidConfigException(expected + ": the port must be " + (portZeroAllowed ? 0 : 1) + "-65535");
        }
        return new Address(host, port);
    }

    /** Splits {@code a.B(x;y), c.D} at the commas outside parentheses. */
    private static List<ServiceSpec> services(Setting v) {
        List<String> entries = new ArrayList<>();
        int depth = 0;
        int start = 0;
        String text = v.value();
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == '(') {
                depth++;
            } else if (c == ')') {
                depth--;
            } else if (c == ',' && depth == 0) {
                entries.add(text.substring(start, i));
                start = i + 1;
            }
            if (depth < 0 || depth > 1) {
                throw new InvalidConfigException(SERVICES + ": unbalanced or nested parentheses in '" + text + "' (from "
                        + v.source() + "): write each service as ClassName or ClassName(arg1;arg2), separated by commas");
            }
        }
        if (depth != 0) {
            throw new InvalidConfigException(SERVICES + ": a '(' is not closed in '" + text + "' (from " + v.source()
                    + "): write each service as ClassName or ClassName(arg1;arg2), separated by commas");
        }
        entries.add(text.substring(start));
        List<ServiceSpec> out = new ArrayList<>();
        for (String entry : entries) {
            String e = entry.strip();
            if (e.isEmpty()) {
                continue;
            }
            Matcher m = SERVICE.matcher(e);
            if (!m.matches()) {
                throw new InvalidConfigException(SERVICES + ": '" + e + "' is not a service (from " + v.source()
                        + "): expected a class name, optionally with arguments: com.example.Gateway(0.0.0.0;9000)");
            }
            List<String> args = new ArrayList<>();
            String inside = m.group(2);
            if (inside != null && !inside.isBlank()) {
                for (String a : inside.split(";", -1)) {
                    args.add(a.strip());
                }
            }
            out.add(new ServiceSpec(m.group(1), args));
        }
        return out;
    }

    @Override
    public String toString() {
        return "node " + nodeId + " listen " + listen + " advertise " + advertise + " cluster '" + clusterName + "' peers " + peers
                + (dns == null ? "" : " dns " + dns) + " heartbeat " + heartbeat.toMillis() + " ms loss " + lossTimeout.toMillis()
                + " ms retention " + exitRetention + " services " + services
                + (metricsListen == null ? "" : " metrics " + metricsListen) + (tls.enabled() ? " tls " + tls.clientAuth() : "")
                + (token == null ? " no token" : " token set");
    }
}
