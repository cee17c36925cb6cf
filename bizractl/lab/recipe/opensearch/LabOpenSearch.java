package org.bizra.lab;

import java.nio.file.Paths;
import java.util.Collections;
import java.util.concurrent.CountDownLatch;
import org.opensearch.common.logging.LogConfigurator;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;

/**
 * The bizra lab build's second way to start OpenSearch (bin/opensearch picks it): OpenSearch's own
 * Node, with its modules, configuration and logging, but without what org.opensearch.bootstrap
 * does before it: the bootstrap checks, the security manager and the native setup. The checks
 * demand a hard limit of 65535 open files of a node that joins others, and the machine the lab
 * runs on gives its containers at most 20000 (no CAP_SYS_RESOURCE to raise it). Lab only.
 */
public final class LabOpenSearch extends Node {
    private LabOpenSearch(Environment environment) {
        super(environment, Collections.emptyList(), true);
    }

    public static void main(String[] args) throws Exception {
        Settings home = Settings.builder().put("path.home", System.getProperty("opensearch.path.home")).build();
        Environment environment = InternalSettingsPreparer.prepareEnvironment(
            home, Collections.emptyMap(), Paths.get(System.getProperty("opensearch.path.conf")), () -> null);
        LogConfigurator.registerErrorListener();
        LogConfigurator.setNodeName(Node.NODE_NAME_SETTING.get(environment.settings()));
        LogConfigurator.configure(environment);
        LabOpenSearch node = new LabOpenSearch(environment);
        CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
            } catch (Exception error) {
                error.printStackTrace();
            } finally {
                closed.countDown();
            }
        }));
        node.start();
        closed.await();
    }
}
