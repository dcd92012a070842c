import { corpusSuite } from "./corpus-suite.ts";

corpusSuite(2, 2);
