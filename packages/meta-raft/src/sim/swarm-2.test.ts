import t from 'tap';
import { swarmTest } from './swarm-check.js';

// The fixed CI swarm is split over two files so that tap runs the halves on both cores.
swarmTest(t, 1001, 1000);
