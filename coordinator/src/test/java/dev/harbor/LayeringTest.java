package dev.harbor;

import static com.tngtech.archunit.base.DescribedPredicate.describe;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.classes;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The layers of Harbor's code, read from the compiled classes of the node and coordinator modules (the
 * main code, not the tests): a dependency against a layer fails the build with the class and the line
 * that made it.
 *
 * <p>The layers, bottom up: the core (services and exit events), the cluster transport and the admin API
 * over gRPC, the shutdown contract that services and the coordinator share, the reference applications
 * (gateway, writer), the node process (command line, metrics, security), and the coordinator with its
 * plan and the demo. What does not hold yet is named here as an exception with its reason, so it cannot
 * grow unnoticed (ARCHITECTURE.md, "The intended layering, and where the code breaks it").
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
        classes().that().resideInAnyPackage("dev.harbor.service..", "dev.harbor.exit..")
                .should().onlyDependOnClassesThat().resideInAnyPackage("java..", "org.slf4j..", "dev.harbor.service..",
                        "dev.harbor.exit..")
                .because("an embedder of the core takes neither gRPC nor Micrometer nor a command line")
                .check(harbor);
    }

    @Test
    void theTransportAndTheAdminApiKnowNoApplicationAndNoProcess() {
        noClasses().that().resideInAnyPackage("dev.harbor.harbor..", "dev.harbor.admin..")
                .should().dependOnClassesThat().resideInAnyPackage("dev.harbor.gateway..", "dev.harbor.writer..",
                        "dev.harbor.shutdown..", "dev.harbor.cli..", "dev.harbor.metrics..", "dev.harbor.security..",
                        "dev.harbor.coordinator..", "dev.harbor.plan..", "dev.harbor.demo..")
                .because("the transport carries any service's messages; applications and the node process sit above it")
                .check(harbor);
    }

    @Test
    void theReferenceApplicationsUseTheRuntimeNotTheTransportOrTheProcess() {
        noClasses().that().resideInAnyPackage("dev.harbor.gateway..", "dev.harbor.writer..")
                .should().dependOnClassesThat().resideInAnyPackage("dev.harbor.harbor..", "dev.harbor.admin..",
                        "dev.harbor.cli..", "dev.harbor.security..", "dev.harbor.coordinator..", "dev.harbor.plan..",
                        "dev.harbor.demo..")
                .because("the gateway and the writer are services like any user's: they talk to other services by handle and name")
                .check(harbor);
    }

    @Test
    void theShutdownContractAndThePlanStayBelowEverythingThatUsesThem() {
        classes().that().resideInAPackage("dev.harbor.shutdown..")
                .should().onlyDependOnClassesThat().resideInAnyPackage("java..", "org.slf4j..", "com.google.protobuf..",
                        "dev.harbor.proto..", "dev.harbor.service..", "dev.harbor.shutdown..")
                .because("the roles and the drain message are shared by every service that takes part in a shutdown")
                .check(harbor);
        classes().that().resideInAPackage("dev.harbor.plan..")
                .should().onlyDependOnClassesThat().resideInAnyPackage("java..", "dev.harbor.service..",
                        "dev.harbor.shutdown..", "dev.harbor.plan..")
                .because("a plan is a pure function of the registrations: no I/O, no gRPC, no clock")
                .check(harbor);
    }

    @Test
    void onlyTheProcessTheCoordinatorAndTheDemoUseTheCommandLinePackage() {
        // The coordinator and the demo read NodeConfig from the cli package: issue 13 moves the node process
        // (config included) into a module of its own that the coordinator's commands build on.
        noClasses().that().resideOutsideOfPackages("dev.harbor.cli..", "dev.harbor.coordinator..", "dev.harbor.demo..")
                .should().dependOnClassesThat().resideInAPackage("dev.harbor.cli..")
                .because("the node process is the top of the node module: nothing below it may reach up")
                .check(harbor);
    }

    @Test
    void theNodeModuleDoesNotReachIntoTheCoordinatorModule() {
        noClasses().that().resideInAnyPackage("dev.harbor.service..", "dev.harbor.exit..", "dev.harbor.harbor..",
                        "dev.harbor.admin..", "dev.harbor.shutdown..", "dev.harbor.gateway..", "dev.harbor.writer..",
                        "dev.harbor.metrics..", "dev.harbor.security..", "dev.harbor.cli..")
                .should().dependOnClassesThat().resideInAnyPackage("dev.harbor.coordinator..", "dev.harbor.plan..",
                        "dev.harbor.demo..")
                .check(harbor);
    }

    @Test
    void packagesFormNoCycleButTheKnownOneOfTheCore() {
        // Known: exit events and the monitor (exit) are part of a service's life (service launches the monitor,
        // a service's end names its ExitReason), and the monitor is itself a service. Issue 13 folds the two
        // into one core package; any other cycle fails here.
        slices().matching("dev.harbor.(*)..")
                .should().beFreeOfCycles()
                .ignoreDependency(inPackage("dev.harbor.exit"), inPackage("dev.harbor.service"))
                .check(harbor);
    }

    private static com.tngtech.archunit.base.DescribedPredicate<JavaClass> inPackage(String name) {
        return describe("in " + name, c -> c.getPackageName().equals(name));
    }
}
