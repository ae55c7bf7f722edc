package dev.harbor.coordinator;

import static org.assertj.core.api.Assertions.assertThat;

import dev.harbor.cli.Main;
import java.io.PrintWriter;
import java.io.StringWriter;
import picocli.CommandLine;
import org.junit.jupiter.api.Test;

/** The distribution's command line (the node's commands plus the coordinator's), in this JVM. */
class CommandLineTest {
    /** What one command printed, and its exit code. */
    record Run(int code, String out, String err) {
    }

    static Run harbor(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cl = Main.commandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        return new Run(cl.execute(args), out.toString(), err.toString());
    }

    @Test
    void nodeHelpListsTheCoordinatorsSettingsToo() {
        Run r = harbor("node", "--help");
        assertThat(r.code()).as(r.err()).isZero();
        for (String key : new CoordinationExtension().keys()) {
            assertThat(r.out()).as("harbor node --help names %s", key).containsPattern("(?m)^\\s+" + java.util.regex.Pattern.quote(key) + "\\s+\\S");
        }
        assertThat(r.out()).contains("node.depends-on").contains("coordinator.state-dir").contains("harbor-coordinator-<node.id>");
    }

    @Test
    void everyCommandOfTheDistributionAnswersHelp() {
        for (String command : Main.commandLine().getSubcommands().keySet()) {
            if (command.equals("help")) {
                continue;
            }
            Run r = harbor(command, "--help");
            assertThat(r.code()).as("harbor %s --help: %s", command, r.err()).isZero();
            assertThat(r.out()).contains("Usage: harbor " + command);
        }
    }
}
