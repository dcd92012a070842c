import { corpusSuite } from "./corpus-suite.ts";

corpusSuite(1, 2);
