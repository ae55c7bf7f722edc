package dev.harbor.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.harbor.cli.NodeConfig;
import dev.harbor.cli.NodeExtension;
import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;

/**
 * The deployment files, without Docker or Kubernetes: {@code deploy/kubernetes/*.yaml} and the root
 * {@code docker-compose.yml} parse, and say what the image and the node expect. Kubernetes manifests:
 * every document is a known kind with its apiVersion and a name; the kustomization lists every file;
 * the StatefulSets' selectors match their pods, their serviceName is the headless Service that selects
 * every node; readiness and liveness run the image's health check; the preStop hook and the drain
 * budget fit in {@code terminationGracePeriodSeconds}; pods run as the image's non-root user; node ids
 * do not collide; the token comes from a Secret. Both files: every {@code HARBOR_*} variable is a
 * setting the node knows (a typo would be silently ignored by the node), and the compose file's
 * cluster network is internal, nothing is pulled, and docker's grace period covers the drain budget.
 * Applying the manifests to a real cluster is not tested (CI has no Kubernetes).
 */
class DeploymentFilesTest {
    /** Variables the image's entry point reads itself rather than the node. */
    static final Set<String> ENTRY_POINT_VARIABLES = Set.of("HARBOR_NODE_ID_OFFSET", "HARBOR_JAVA_OPTS");
    /** The writer service's own settings the compose file uses (Writer.Settings reads them; also harbor demo-clients). */
    static final Set<String> WRITER_VARIABLES = Set.of("HARBOR_WRITER_USER", "HARBOR_WRITER_PASSWORD");
    static final int IMAGE_UID = 10001;
    private static Path root;
    private static Map<String, List<Map<String, Object>>> manifests;

    @BeforeAll
    static void load() throws IOException {
        root = HarborImage.checkout();
        manifests = new java.util.TreeMap<>();
        try (Stream<Path> files = Files.list(root.resolve("deploy/kubernetes"))) {
            for (Path f : files.filter(p -> p.toString().endsWith(".yaml")).sorted().toList()) {
                List<Map<String, Object>> docs = new ArrayList<>();
                try (Reader r = Files.newBufferedReader(f)) {
                    for (Object doc : new Yaml().loadAll(r)) {
                        assertThat(doc).as("a document of %s", f).isInstanceOf(Map.class);
                        docs.add(map(doc));
                    }
                }
                manifests.put(f.getFileName().toString(), docs);
            }
        }
    }

    @Test
    void everyManifestIsAKnownKindWithItsApiVersionAndAName() {
        Map<String, String> apiVersions = Map.of("Service", "v1", "StatefulSet", "apps/v1", "Kustomization",
                "kustomize.config.k8s.io/v1beta1");
        assertThat(manifests).isNotEmpty();
        manifests.forEach((file, docs) -> {
            assertThat(docs).as(file).isNotEmpty();
            for (Map<String, Object> d : docs) {
                String kind = (String) d.get("kind");
                assertThat(apiVersions).as("kind of a document of %s", file).containsKey(kind);
                assertThat(d.get("apiVersion")).as("%s in %s", kind, file).isEqualTo(apiVersions.get(kind));
                if (!kind.equals("Kustomization")) {
                    assertThat(map(d.get("metadata")).get("name")).as("name of a %s in %s", kind, file).isInstanceOf(String.class);
                }
            }
        });
        List<String> others = manifests.keySet().stream().filter(f -> !f.equals("kustomization.yaml")).toList();
        assertThat(list(manifests.get("kustomization.yaml").get(0).get("resources"))).as("the kustomization's resources")
                .containsExactlyInAnyOrderElementsOf(others);
    }

    @Test
    void theStatefulSetsFindEachOtherThroughTheHeadlessServiceAndTheirPodsMatchTheirSelectors() {
        Map<String, Object> headless = only("Service", "harbor-nodes");
        Map<String, Object> hs = map(headless.get("spec"));
        assertThat(hs.get("clusterIP")).isEqualTo("None");
        assertThat(hs.get("publishNotReadyAddresses")).as("nodes link before they are ready").isEqualTo(true);
        List<Map<String, Object>> sets = all("StatefulSet");
        assertThat(sets).hasSize(2);
        Set<Object> ids = new HashSet<>();
        for (Map<String, Object> s : sets) {
            Map<String, Object> spec = map(s.get("spec"));
            Map<String, Object> podLabels = map(map(map(spec.get("template")).get("metadata")).get("labels"));
            assertThat(podLabels).as("pods of %s match its selector", name(s)).containsAllEntriesOf(map(map(spec.get("selector")).get("matchLabels")));
            assertThat(podLabels).as("pods of %s are selected by the headless Service", name(s)).containsAllEntriesOf(map(hs.get("selector")));
            assertThat(spec.get("serviceName")).isEqualTo("harbor-nodes");
            Map<String, String> env = env(container(s));
            assertThat(env.get("HARBOR_CLUSTER_DNS")).isEqualTo("harbor-nodes:" + port(hs));
            // Node ids: a fixed one, or the offset plus each ordinal; none twice.
            int replicas = (Integer) spec.get("replicas");
            if (env.containsKey("HARBOR_NODE_ID")) {
                assertThat(replicas).as("%s has a fixed node id", name(s)).isEqualTo(1);
                assertThat(ids.add(Integer.parseInt(env.get("HARBOR_NODE_ID")))).isTrue();
            } else {
                int offset = Integer.parseInt(env.get("HARBOR_NODE_ID_OFFSET"));
                for (int i = 0; i < replicas; i++) {
                    assertThat(ids.add(offset + i)).as("node id %d of %s is unique", offset + i, name(s)).isTrue();
                }
            }
        }
        Map<String, Object> coordinator = only("Service", "harbor-coordinator");
        Map<String, Object> coordinatorPods = map(map(map(map(only("StatefulSet", "harbor-coordinator").get("spec")).get("template"))
                .get("metadata")).get("labels"));
        assertThat(coordinatorPods).containsAllEntriesOf(map(map(coordinator.get("spec")).get("selector")));
    }

    @Test
    void podsDrainWithinTheirGracePeriodRunAsTheImagesUserAndAreReadyWhenTheNodeIsHealthy() throws IOException {
        long drainSeconds = ContainerCluster.DRAIN_BUDGET.toSeconds();
        assertThat(Files.readString(root.resolve("Dockerfile"))).contains("USER " + IMAGE_UID + ":" + IMAGE_UID)
                .contains("CMD [\"harbor-health\"]");
        for (Map<String, Object> s : all("StatefulSet")) {
            Map<String, Object> pod = map(map(map(s.get("spec")).get("template")).get("spec"));
            Map<String, Object> c = container(s);
            List<Object> preStop = list(map(map(map(c.get("lifecycle")).get("preStop")).get("exec")).get("command"));
            assertThat(preStop.get(0)).isEqualTo("sleep");
            long preStopSeconds = Long.parseLong((String) preStop.get(1));
            assertThat(((Integer) pod.get("terminationGracePeriodSeconds")).longValue())
                    .as("%s: grace period covers the preStop hook (%d s) and the drain budget (%d s), with a margin", name(s),
                            preStopSeconds, drainSeconds)
                    .isGreaterThan(preStopSeconds + drainSeconds);
            Map<String, Object> port = map(list(c.get("ports")).get(0));
            // Ready while grpc.health.v1 says SERVING (not while draining); alive while the admin API answers.
            assertThat(map(map(c.get("readinessProbe")).get("grpc")).get("port")).as("readiness of %s", name(s))
                    .isEqualTo(port.get("containerPort"));
            assertThat(list(map(map(c.get("livenessProbe")).get("exec")).get("command"))).as("liveness of %s", name(s))
                    .containsExactly("harbor-health");
            Map<String, Object> security = map(pod.get("securityContext"));
            assertThat(security.get("runAsNonRoot")).isEqualTo(true);
            assertThat(security.get("runAsUser")).isEqualTo(IMAGE_UID);
            assertThat(env(c).get("HARBOR_NODE_LISTEN")).isEqualTo("0.0.0.0:" + port.get("containerPort"));
        }
        Map<String, Object> coordinator = container(only("StatefulSet", "harbor-coordinator"));
        assertThat(env(coordinator)).containsEntry("HARBOR_COORDINATOR_ENABLED", "true");
        // Every node holds the cluster's token: the coordinator's API and each node's Kill, Stop and Abort take it.
        for (String set : List.of("harbor-coordinator", "harbor-node")) {
            Map<String, Object> token = list(container(only("StatefulSet", set)).get("env")).stream()
                    .map(DeploymentFilesTest::map).filter(e -> "HARBOR_COORDINATOR_TOKEN".equals(e.get("name")))
                    .findFirst().orElseThrow(() -> new AssertionError(set + " has no HARBOR_COORDINATOR_TOKEN"));
            assertThat(map(map(token.get("valueFrom")).get("secretKeyRef"))).as(set)
                    .containsEntry("name", "harbor-coordinator-token").containsEntry("key", "token");
        }
    }

    @Test
    void everyHarborVariableOfTheManifestsAndTheComposeFileIsASettingTheNodeKnows() throws IOException {
        Set<String> known = new HashSet<>(ENTRY_POINT_VARIABLES);
        known.addAll(WRITER_VARIABLES);
        NodeConfig.KEYS.forEach(k -> known.add(NodeConfig.envName(k)));
        NodeExtension.installed().forEach(e -> e.keys().forEach(k -> known.add(NodeConfig.envName(k))));
        List<String> used = new ArrayList<>();
        for (Map<String, Object> s : all("StatefulSet")) {
            used.addAll(env(container(s)).keySet());
        }
        Map<String, Object> services = map(compose().get("services"));
        services.values().forEach(svc -> used.addAll(composeEnv(map(svc))));
        assertThat(used.stream().filter(v -> v.startsWith("HARBOR_")).toList()).isNotEmpty().allSatisfy(v -> assertThat(known)
                .as("%s is a setting of the node or the image (a misspelt one is ignored by the node)", v).contains(v));
    }

    @Test
    void theComposeClusterIsOnAnInternalNetworkPullsNothingAndWaitsForTheDrain() throws IOException {
        Map<String, Object> compose = compose();
        assertThat(map(map(compose.get("networks")).get("cluster")).get("internal")).isEqualTo(true);
        map(compose.get("services")).forEach((name, svc) -> {
            Map<String, Object> s = map(svc);
            assertThat(s.get("pull_policy")).as("%s's pull_policy", name).isEqualTo("never");
            assertThat(list(s.get("networks"))).as("%s's networks", name).contains("cluster");
            if (String.valueOf(s.get("image")).contains("HARBOR_IMAGE") && s.get("command") == null) {
                // A Harbor node (the image's default command): docker stop must leave it its drain budget before SIGKILL.
                String grace = (String) s.get("stop_grace_period");
                assertThat(grace).as("%s's stop_grace_period", name).matches("\\d+s");
                assertThat(Long.parseLong(grace.replace("s", ""))).as("%s's stop_grace_period", name)
                        .isGreaterThan(ContainerCluster.DRAIN_BUDGET.toSeconds());
            }
        });
        assertThat(list(map(map(compose.get("services")).get("coordinator")).get("ports"))).as("the coordinator's port, on loopback")
                .singleElement().asString().startsWith("127.0.0.1:");
    }

    private static Map<String, Object> compose() throws IOException {
        try (Reader r = Files.newBufferedReader(root.resolve("docker-compose.yml"))) {
            return map(new Yaml().load(r));
        }
    }

    /** The variable names of a compose service's environment, in either form (map, or list of NAME=value). */
    private static List<String> composeEnv(Map<String, Object> service) {
        Object env = service.get("environment");
        if (env == null) {
            return List.of();
        }
        if (env instanceof List<?> l) {
            return l.stream().map(e -> String.valueOf(e).split("=", 2)[0]).toList();
        }
        return List.copyOf(map(env).keySet());
    }

    private static List<Map<String, Object>> all(String kind) {
        return manifests.values().stream().flatMap(List::stream).filter(d -> kind.equals(d.get("kind"))).toList();
    }

    private static Map<String, Object> only(String kind, String name) {
        List<Map<String, Object>> found = all(kind).stream().filter(d -> name.equals(name(d))).toList();
        assertThat(found).as("%s %s in deploy/kubernetes", kind, name).hasSize(1);
        return found.get(0);
    }

    private static String name(Map<String, Object> doc) {
        return (String) map(doc.get("metadata")).get("name");
    }

    private static Map<String, Object> container(Map<String, Object> statefulSet) {
        List<Object> containers = list(map(map(map(statefulSet.get("spec")).get("template")).get("spec")).get("containers"));
        assertThat(containers).as("containers of %s", name(statefulSet)).hasSize(1);
        return map(containers.get(0));
    }

    /** A container's env as name to value (null for one from valueFrom). */
    private static Map<String, String> env(Map<String, Object> container) {
        Map<String, String> out = new java.util.LinkedHashMap<>();
        for (Object e : list(container.get("env"))) {
            out.put((String) map(e).get("name"), (String) map(e).get("value"));
        }
        return out;
    }

    private static Object port(Map<String, Object> serviceSpec) {
        return map(list(serviceSpec.get("ports")).get(0)).get("port");
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> map(Object o) {
        assertThat(o).isInstanceOf(Map.class);
        return (Map<String, Object>) o;
    }

    @SuppressWarnings("unchecked")
    private static List<Object> list(Object o) {
        assertThat(o).isInstanceOf(List.class);
        return (List<Object>) o;
    }
}
