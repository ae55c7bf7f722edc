package dev.harbor.demo.run;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.harbor.writer.Dialect;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The demo's own database check: its zero-loss check counts every row, so it starts only on an empty table. */
class DemoRunTest {
    @TempDir
    Path dir;

    @Test
    void aNewDatabaseOrAnEmptyTableIsFineAndOneWithAnEarlierRunsRecordsIsRefusedWithWhatToDo() throws Exception {
        String url = "jdbc:h2:file:" + dir.resolve("db").resolve("chat");
        assertThatCode(() -> DemoRun.requireEmpty(url)).as("no database yet").doesNotThrowAnyException();
        try (Connection c = DriverManager.getConnection(url)) {
            Dialect d = Dialect.of(c);
            d.prepare(c);
            assertThatCode(() -> DemoRun.requireEmpty(url)).as("the table, empty").doesNotThrowAnyException();
            try (PreparedStatement insert = c.prepareStatement(d.insert())) {
                insert.setString(1, ":0001000000000042");
                insert.setLong(2, 7);
                insert.setString(3, "a line of an earlier run");
                insert.executeUpdate();
            }
            c.commit();
        }
        assertThatThrownBy(() -> DemoRun.requireEmpty(url)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("already holds 1 records in harbor_records").hasMessageContaining("give a new --dir");
    }
}
