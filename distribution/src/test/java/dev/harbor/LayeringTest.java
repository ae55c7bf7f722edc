package dev.harbor;

import static com.tngtech.archunit.base.DescribedPredicate.not;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.belongToAnyOf;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.equivalentTo;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAnyPackage;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.classes;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The layers of Harbor's code, read from the compiled classes of every module (the main code, not the
 * tests; this module depends on all of them): a dependency against a layer fails the build with the
 * class and the line that made it. The modules enforce the coarse layers already (Maven will not compile
 * the runtime against the process); these rules hold the packages inside them.
 *
 * <p>The layers, bottom up: the core (services, their exit events and the node's monitor), the wire forms
 * of its values, the cluster transport and the admin API side by side over gRPC, the shutdown contract
 * that services and the coordinator share (module {@code node}); the reference services (gateway,
 * writer: {@code services}); the node process (command line, metrics, security: {@code process}); its
 * extensions, the coordinator with its plan ({@code coordinator}) and the demo's local cluster
 * ({@code distribution}); the demo application ({@code demo}) on the runtime and the reference services
 * alone. No package cycle is allowed. No rule carries an exception for a break: what a rule lets through
 * by design is marked where it does, with its reason (ARCHITECTURE.md, "The intended layering, and
 * where the code breaks it", lists the downward edges that are allowed but unwelcome).
 */
class LayeringTest {
    private static JavaClasses harbor;

    @BeforeAll
    static void importHarbor() {
        harbor = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPackages("dev.harbor");
    }

    @Test
    void theCoreDependsOnTheJdkAndSlf4jAlone() {
        classes().that().resideInAPackage("dev.harbor.service..")
                .should().onlyDependOnClassesThat().resideInAnyPackage("java..", "org.slf4j..", "dev.harbor.service..")
                .because("an embedder of the core takes neither gRPC nor Micrometer nor a command line")
                .check(harbor);
    }

    @Test
    void theTransportAndTheAdminApiKnowNoApplicationAndNoProcess() {
        noClasses().that().resideInAnyPackage("dev.harbor.transport..", "dev.harbor.admin..")
                .should().dependOnClassesThat().resideInAnyPackage("dev.harbor.gateway..", "dev.harbor.writer..",
                        "dev.harbor.shutdown..", "dev.harbor.cli..", "dev.harbor.metrics..", "dev.harbor.security..",
                        "dev.harbor.coordinator..", "dev.harbor.plan..", "dev.harbor.demo..")
                .because("the transport carries any service's messages; applications and the node process sit above it")
                .check(harbor);
    }

    @Test
    void theWireFormsNeedTheCoreAndTheProtocolAlone() {
        classes().that().resideInAPackage("dev.harbor.wire..")
                .should().onlyDependOnClassesThat().resideInAnyPackage("java..", "com.google.protobuf..",
                        "dev.harbor.proto..", "dev.harbor.service..", "dev.harbor.wire..")
                .because("the transport and the admin API both put the core's values on the wire; their codec sits below both")
                .check(harbor);
    }

    @Test
    void theTransportAndTheAdminApiAreSiblings() {
        noClasses().that().resideInAPackage("dev.harbor.transport..")
                .should().dependOnClassesThat().resideInAPackage("dev.harbor.admin..")
                .because("the transport carries messages between nodes; the admin API is another door into a node, not a layer under it")
                .check(harbor);
        noClasses().that().resideInAPackage("dev.harbor.admin..")
                .should().dependOnClassesThat().resideInAPackage("dev.harbor.transport..")
                .because("the admin API serves a node whether or not it is in a cluster")
                .check(harbor);
    }

    @Test
    void theReferenceApplicationsUseTheRuntimeNotTheTransportOrTheProcess() {
        noClasses().that().resideInAnyPackage("dev.harbor.gateway..", "dev.harbor.writer..")
                .should().dependOnClassesThat(resideInAnyPackage("dev.harbor.transport..", "dev.harbor.admin..",
                        "dev.harbor.cli..", "dev.harbor.metrics..", "dev.harbor.security..", "dev.harbor.coordinator..",
                        "dev.harbor.plan..", "dev.harbor.demo..")
                        .and(not(equivalentTo(dev.harbor.transport.PayloadTypes.class)))) // how a module declares its messages
                .because("the gateway and the writer are services like any user's: they talk to other services by handle and name")
                .check(harbor);
    }

    @Test
    void theShutdownContractAndThePlanStayBelowEverythingThatUsesThem() {
        classes().that().resideInAPackage("dev.harbor.shutdown..")
                .should().onlyDependOnClassesThat(resideInAnyPackage("java..", "org.slf4j..", "com.google.protobuf..",
                        "dev.harbor.proto..", "dev.harbor.service..", "dev.harbor.shutdown..")
                        .or(equivalentTo(dev.harbor.transport.PayloadTypes.class))) // it declares its messages to the transport
                .because("the roles and the drain message are shared by every service that takes part in a shutdown")
                .check(harbor);
        classes().that().resideInAPackage("dev.harbor.plan..")
                .should().onlyDependOnClassesThat().resideInAnyPackage("java..", "dev.harbor.service..",
                        "dev.harbor.shutdown..", "dev.harbor.plan..")
                .because("a plan is a pure function of the registrations, and its execution a pure state machine"
                        + " (events in, commands out): no I/O, no gRPC, no clock, no logging")
                .check(harbor);
    }

    @Test
    void onlyTheProcessAndItsExtensionsUseTheCommandLinePackage() {
        // The coordinator and the demo's local cluster are extensions of the node process: they read its
        // config (NodeConfig) and add commands to its command line.
        noClasses().that().resideOutsideOfPackages("dev.harbor.cli..", "dev.harbor.coordinator..", "dev.harbor.demo.run..")
                .should().dependOnClassesThat().resideInAPackage("dev.harbor.cli..")
                .because("the node process is the top of its module: nothing below it may reach up")
                .check(harbor);
    }

    @Test
    void theRuntimeReachesIntoNothingAboveIt() {
        noClasses().that().resideInAnyPackage("dev.harbor.service..", "dev.harbor.wire..", "dev.harbor.transport..",
                        "dev.harbor.admin..", "dev.harbor.shutdown..")
                .should().dependOnClassesThat().resideInAnyPackage("dev.harbor.gateway..", "dev.harbor.writer..",
                        "dev.harbor.metrics..", "dev.harbor.security..", "dev.harbor.cli..", "dev.harbor.coordinator..",
                        "dev.harbor.plan..", "dev.harbor.demo..")
                .because("harbor-node is what an embedder takes: services, exit events, the transport and the admin API")
                .check(harbor);
    }

    @Test
    void onlyTheRuntimeAndTheNodeProcessUseTheNodesInternalHooks() {
        // InternalNode forwards to Node's package-private hooks: the transport's attach, deliveries and
        // new lives, the metrics' counters.
        // Applications (the reference services, the demo), the coordinator and its plan run on a node;
        // they do not reach into it.
        noClasses().that().resideOutsideOfPackages("dev.harbor.service..", "dev.harbor.transport..",
                        "dev.harbor.admin..", "dev.harbor.cli..", "dev.harbor.metrics..")
                .should().dependOnClassesThat(belongToAnyOf(dev.harbor.service.InternalNode.class))
                .because("InternalNode is not an API: it is for Harbor's own runtime and node process, and may change in any release")
                .check(harbor);
    }

    @Test
    void theDemoApplicationNeedsTheRuntimeAndTheReferenceServicesAlone() {
        classes().that().resideInAPackage("dev.harbor.demo")
                .should().onlyDependOnClassesThat().resideInAnyPackage("java..", "org.slf4j..", "com.google.protobuf..",
                        "dev.harbor.proto..", "dev.harbor.service..", "dev.harbor.shutdown..",
                        "dev.harbor.gateway..", "dev.harbor.writer..", "dev.harbor.demo")
                .because("an application is built against harbor-node and harbor-services; the process runs it, it does not build on it")
                .check(harbor);
    }

    @Test
    void packagesFormNoCycle() {
        slices().matching("dev.harbor.(*)..")
                .should().beFreeOfCycles()
                .check(harbor);
    }
}
